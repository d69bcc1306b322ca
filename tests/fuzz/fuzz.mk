# mxkit fuzzing with clang's libFuzzer.  Included by the top Makefile, whose
# variables (LIB_SRC, XCFLAGS, XLIBS, VERSION) it reuses.  See tests/fuzz/README.
#
#   make fuzz-build                 every target into build/fuzz/
#   make fuzz [FUZZ_SECONDS=60]     fuzz each target with its corpus
#   make fuzz-smoke                 each target 10 s; fails on any crash
#   make fuzz-regress               replay regress/ and the seed corpora
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

FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -O1 -g $(FUZZ_SAN) $(XCFLAGS)

FUZZ_SRC	:= $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES	:= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS	:= $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_LIB_OBJ	:= $(LIB_SRC:lib/%.c=build/fuzz/lib/%.o)

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-regress fuzz-seeds

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

# The seed generator: a plain build; ldns writes the DNS packets.
build/fuzz/mkseeds: tests/fuzz/mkseeds.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $< $(XLIBS)

fuzz-seeds: build/fuzz/mkseeds
	build/fuzz/mkseeds tests/fuzz/corpus

# fuzz_one NAME SECONDS MODE: run one target, print one line, write
# build/fuzz/log/NAME.MODE.{log,res}.  MODE "fuzz" keeps the corpus it grows
# in build/fuzz/corpus/NAME; "smoke" starts from the seeds each time.
# Exit status: 0 ok, 1 crash or sanitizer report.
define FUZZ_SH
fuzz_one() {
	n=$$1 secs=$$2 mode=$$3
	bin=build/fuzz/fuzz_$$n
	args=$$(sed -n 's/^ \* fuzz-args: //p' tests/fuzz/fuzz_$$n.c)
	[ -n "$$args" ] || args=-max_len=4096
	log=build/fuzz/log/$$n.$$mode.log
	if [ "$$mode" = smoke ]; then
		work=build/fuzz/smoke/$$n
		rm -rf "$$work"
	else
		work=build/fuzz/corpus/$$n
	fi
	mkdir -p "$$work" build/fuzz/artifacts/$$n build/fuzz/log \
	    tests/fuzz/corpus/$$n
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    "$$bin" $$args -max_total_time="$$secs" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/artifacts/$$n/ \
	    "$$work" tests/fuzz/corpus/$$n >"$$log" 2>&1
	rc=$$?
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' "$$log" |
	    tail -n 1)
	last=$$(grep -E '^#[0-9]+.*cov: ' "$$log" | tail -n 1)
	cov=$$(echo "$$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
	ft=$$(echo "$$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
	corp=$$(echo "$$last" | sed -nE 's/.* corp: ([0-9]+).*/\1/p')
	stats="$${execs:-?} execs, cov $${cov:-?}, ft $${ft:-?}, corpus $${corp:-?}"
	if [ "$$rc" -eq 0 ]; then
		printf '%-12s ok    %s\n' "$$n" "$$stats"
		echo ok >build/fuzz/log/$$n.$$mode.res
		return 0
	fi
	art=$$(sed -n 's/.*Test unit written to \(.*\)$$/\1/p' "$$log" |
	    tail -n 1)
	why=$$(grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error:|.*invariant failed)' \
	    "$$log" | cut -c 1-160)
	printf '%-12s FAIL  %s (exit %s)\n' "$$n" "$$stats" "$$rc"
	printf '             %s\n' "$${why:-see $$log}"
	printf '             input: %s  log: %s\n' "$${art:-?}" "$$log"
	echo fail >build/fuzz/log/$$n.$$mode.res
	return 1
}
endef

fuzz fuzz-smoke: export FUZZ_SH := $(FUZZ_SH)

# Run every target, FUZZ_JOBS at a time, then print "fuzz: N passed, N
# failed" counting targets.  $(1): seconds, $(2): mode.
define fuzz_all
	@mkdir -p build/fuzz/log
	@rm -f $(FUZZ_NAMES:%=build/fuzz/log/%.$(2).res)
	@printf '%s\n' $(FUZZ_NAMES) | xargs -P $(FUZZ_JOBS) -n 1 \
	    sh -c 'eval "$$FUZZ_SH"; fuzz_one "$$0" $(1) $(2)' || true
	@p=0; f=0; for n in $(FUZZ_NAMES); do \
	    if [ "$$(cat build/fuzz/log/$$n.$(2).res 2>/dev/null)" = ok ]; \
	    then p=$$((p + 1)); else f=$$((f + 1)); fi; done; \
	echo "fuzz: $$p passed, $$f failed"; [ $$f -eq 0 ]
endef

fuzz: fuzz-build
	$(call fuzz_all,$(FUZZ_SECONDS),fuzz)

fuzz-smoke: fuzz-build
	$(call fuzz_all,$(FUZZ_SMOKE_SECONDS),smoke)

# Replay each target over its regress/ files and seed corpus, no fuzzing:
# a fixed bug stays fixed.  One line per target and "N passed, N failed".
fuzz-regress: fuzz-build
	@mkdir -p build/fuzz/log
	@p=0; f=0; for n in $(FUZZ_NAMES); do \
	    files=$$(find tests/fuzz/regress/$$n tests/fuzz/corpus/$$n \
	        -type f 2>/dev/null | sort); \
	    nf=$$(echo "$$files" | grep -c .); \
	    log=build/fuzz/log/$$n.regress.log; \
	    if [ "$$nf" -eq 0 ]; then \
	        printf '%-12s ok    no inputs\n' "$$n"; p=$$((p + 1)); \
	    elif build/fuzz/fuzz_$$n $$files >"$$log" 2>&1; then \
	        printf '%-12s ok    %s inputs\n' "$$n" "$$nf"; p=$$((p + 1)); \
	    else \
	        bad=0; for x in $$files; do \
	            build/fuzz/fuzz_$$n "$$x" >>"$$log" 2>&1 && continue; \
	            bad=$$((bad + 1)); printf '             fails: %s\n' "$$x"; \
	        done; \
	        printf '%-12s FAIL  %s of %s inputs (log: %s)\n' "$$n" \
	            "$$bad" "$$nf" "$$log"; f=$$((f + 1)); \
	    fi; \
	done; echo "fuzz-regress: $$p passed, $$f failed"; [ $$f -eq 0 ]
