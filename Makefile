# mxkit — one GNU Makefile.  See README.md.
#
#   make            build lib/libmxkit.a and the tools into bin/
#   make check      install dependencies if missing, build, run every test
#   make check-valgrind  each binary's main paths under valgrind (slow)
#   make demo       install dependencies if missing, build, run the demo
#   make install    PREFIX=/usr/local DESTDIR=
#   make bench      benchmarks against peers (never part of check)

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
CC	?= cc
AR	?= ar
CFLAGS	?= -O2 -g
PKG_CONFIG ?= pkg-config

PKGS	:= ldns gnutls libidn2 libcurl libxcrypt
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN	:= -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(CI),true)
WARN	+= -Werror
endif
ifneq ($(WERROR),)
WARN	+= -Werror
endif

XCFLAGS	:= -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Ilib $(PKG_CFLAGS) -MMD -MP
XLIBS	:= $(PKG_LIBS) -pthread

SAN	:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

VERSION	:= 0.1.0

LIB_SRC	:= $(sort $(wildcard lib/*.c))
LIB_OBJ	:= $(LIB_SRC:lib/%.c=build/lib/%.o)
LIB_ASAN_OBJ := $(LIB_SRC:lib/%.c=build/asan/lib/%.o)

TOOLS	:= $(sort $(notdir $(patsubst %/main.c,%,$(wildcard cmd/*/main.c))))
BINS	:= $(TOOLS:%=bin/%)
ASAN_BINS := $(TOOLS:%=build/asan/bin/%)

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT	:= $(UNIT_SRC:tests/unit/%.c=build/tests/%)
UNIT_ASAN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)

MANS	:= $(wildcard man/*.[1-8])

.PHONY: all lib check check-valgrind unit unit-asan integration demo deps \
	bench install uninstall clean lint asan

all: build/libmxkit.a $(BINS)

lib: build/libmxkit.a

build/libmxkit.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

build/asan/libmxkit.a: $(LIB_ASAN_OBJ)
	$(AR) rcs $@ $^

build/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -DMXK_VERSION='"$(VERSION)"' -c -o $@ $<

build/asan/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN) $(XCFLAGS) -DMXK_VERSION='"$(VERSION)"' -c -o $@ $<

build/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -DMXK_VERSION='"$(VERSION)"' -c -o $@ $<

build/asan/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN) $(XCFLAGS) -DMXK_VERSION='"$(VERSION)"' -c -o $@ $<

bin/%: build/cmd/%/main.o build/libmxkit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< build/libmxkit.a $(XLIBS)

build/asan/bin/%: build/asan/cmd/%/main.o build/asan/libmxkit.a
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN) $(LDFLAGS) -o $@ $< build/asan/libmxkit.a $(XLIBS)

build/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -Itests/unit -c -o $@ $<

build/asan/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN) $(XCFLAGS) -Itests/unit -c -o $@ $<

build/tests/%: build/tests/%.o build/libmxkit.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< build/libmxkit.a $(XLIBS)

build/asan/tests/%: build/asan/tests/%.o build/asan/libmxkit.a
	$(CC) -O1 -g $(SAN) $(LDFLAGS) -o $@ $< build/asan/libmxkit.a $(XLIBS)

.PRECIOUS: build/tests/%.o build/asan/tests/%.o build/cmd/%.o build/asan/cmd/%.o

asan: $(ASAN_BINS)

deps:
	@scripts/deps

# The runner prints one "N passed, N failed" line per suite and a total last.
# It also runs the fuzz targets (tests/fuzz/run check: the regression
# inputs, then FUZZ_CHECK_SECONDS of fuzzing each; fuzz.mk) and the
# integration tests, among them one pass of each binary under ASan+UBSan.
check: deps
	@$(MAKE) --no-print-directory all $(UNIT) $(UNIT_ASAN) $(ASAN_BINS) \
	    fuzz-build
	@scripts/runtests --fuzz $(UNIT) $(UNIT_ASAN)

unit: $(UNIT) $(UNIT_ASAN)
	@scripts/runtests --unit-only $(UNIT) $(UNIT_ASAN)

integration: all
	@scripts/runtests --integration-only

# Each binary's main paths (tests/integration/main_paths.sh) under valgrind:
# no memcheck error, no definite leak.  Slow; not part of check.
check-valgrind: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-integration --valgrind

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench: all
	@bench/run

lint:
	@for m in $(MANS); do mandoc -Tlint -Wwarning $$m || exit 1; done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)
	for m in $(MANS); do \
	    s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; \
	done

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(BINDIR)/$$t; done
	for m in $(MANS); do \
	    s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m#man/}; \
	done

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# Fuzzing (clang libFuzzer): targets and rules live in tests/fuzz/fuzz.mk.
-include tests/fuzz/fuzz.mk
