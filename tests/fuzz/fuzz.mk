# mxkit fuzzing with clang's libFuzzer.  Included by the top Makefile, whose
# variables (LIB_SRC, XCFLAGS, XLIBS, VERSION) it reuses.  See tests/fuzz/README.
#
#   make fuzz-build                 every target into build/fuzz/
#   make fuzz [FUZZ_SECONDS=60]     fuzz each target with its corpus
#   make fuzz-smoke                 each target 10 s; fails on any crash
#   make fuzz-regress               replay regress/ and the seed corpora
#   make fuzz-check                 regress + FUZZ_CHECK_SECONDS (8) each,
#                                   FUZZ_CHECK_JOBS (2) at a time: make check
#   make fuzz-seeds                 regenerate tests/fuzz/corpus/ (mkseeds.c)
#
# A target is one file tests/fuzz/fuzz_<name>.c defining
# LLVMFuzzerTestOneInput(); its seeds are tests/fuzz/corpus/<name>/, its
# reproducers tests/fuzz/regress/<name>/.  libFuzzer flags for a target go
# on a line " * fuzz-args: -max_len=65535" in its opening comment (default
# -max_len=4096).  Nothing else needs to change to add a target.
#
# The library is rebuilt here with clang, coverage instrumentation and
# ASan+UBSan (build/fuzz/lib/), apart from build/ and build/asan/ (gcc).

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_SMOKE_SECONDS ?= 10
# Targets fuzzed at the same time (each libFuzzer process uses one core).
FUZZ_JOBS	?= $(shell nproc 2>/dev/null || echo 1)
# make check: seconds per target (0: replay only) and targets at a time.
FUZZ_CHECK_SECONDS ?= 8
FUZZ_CHECK_JOBS	?= 2
export FUZZ_CHECK_SECONDS FUZZ_CHECK_JOBS

FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -O1 -g $(FUZZ_SAN) $(XCFLAGS)

FUZZ_SRC	:= $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES	:= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS	:= $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_LIB_OBJ	:= $(LIB_SRC:lib/%.c=build/fuzz/lib/%.o)

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-regress fuzz-check fuzz-seeds

fuzz-build: $(FUZZ_BINS)

build/fuzz/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -DMXK_VERSION='"$(VERSION)"' -c -o $@ $<

build/fuzz/libmxkit.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

build/fuzz/obj/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_%: build/fuzz/obj/fuzz_%.o build/fuzz/libmxkit.a
	$(FUZZ_CC) -g $(FUZZ_SAN) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< \
	    build/fuzz/libmxkit.a $(XLIBS)

.PRECIOUS: build/fuzz/obj/%.o

# The seed generator: a plain build; ldns writes the DNS packets, lib/dane
# the TLSA data.
build/fuzz/mkseeds: tests/fuzz/mkseeds.c tests/fuzz/dane_certs.h \
    build/libmxkit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $< build/libmxkit.a $(XLIBS)

fuzz-seeds: build/fuzz/mkseeds
	build/fuzz/mkseeds tests/fuzz/corpus

# The runs themselves are tests/fuzz/run's: one line per target and
# "fuzz: N passed, N failed" counting targets.
fuzz: fuzz-build
	@tests/fuzz/run -j $(FUZZ_JOBS) fuzz $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@tests/fuzz/run -j $(FUZZ_JOBS) smoke $(FUZZ_SMOKE_SECONDS)

# Replay each target over its regress/ files and seed corpus, no fuzzing:
# a fixed bug stays fixed.
fuzz-regress: fuzz-build
	@tests/fuzz/run -j $(FUZZ_JOBS) regress 0

# What make check runs (scripts/runtests): the replay, then
# FUZZ_CHECK_SECONDS of fuzzing from the seeds, per target.
fuzz-check: fuzz-build
	@tests/fuzz/run -j $(FUZZ_CHECK_JOBS) check $(FUZZ_CHECK_SECONDS)
