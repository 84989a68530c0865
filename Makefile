# stethoscope — one non-recursive Makefile.
#
#   make                 build every tool into build/
#   make test            install missing packages, build, run every test
#   make check           the same suite under ASan+UBSan (build/san-address-undefined/)
#   make run             run the main job on the bundled default
#   make bench           print benchmark figures
#   make soak            an hour of the whole tap, every output on (tests/soak/)
#   make valgrind        a short run of it with every daemon under memcheck
#   make fuzz            run each libFuzzer target for FUZZ_SECONDS, FUZZ_JOBS at
#                        a time (clang); the corpora grow, tests/fuzz/ledger.tsv
#                        keeps the hours
#   make SANITIZER=address,undefined   sanitizer build in its own directory
#   make install PREFIX=/usr/local

.DEFAULT_GOAL := all
comma := ,
PREFIX ?= /usr/local
CC ?= cc
CFLAGS ?= -O2 -g
SANITIZER ?=
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1

ifneq ($(SANITIZER),)
B := build/san-$(subst $(comma),-,$(SANITIZER))
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
CPPFLAGS += -DSTH_SANITIZER=1
else
B := build
SANFLAGS :=
endif

WARN := -std=c11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -Werror
PKGS := libpcap json-c libevent
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcap -ljson-c -levent)
CPPFLAGS += -D_GNU_SOURCE -Icommon $(PKG_CFLAGS)
# The sandboxes (common/sandbox.c): libseccomp where it is (Linux); without
# it the daemons run without one and say so.
SECCOMP_LIBS := $(shell pkg-config --libs libseccomp 2>/dev/null)
ifneq ($(SECCOMP_LIBS),)
CPPFLAGS += -DHAVE_SECCOMP
endif
# The NATS sink and subscriber (sinkd nats, stethoscope-ctl subscribe):
# libnats where it is; without it they say so.
NATS_LIBS := $(shell pkg-config --libs libnats 2>/dev/null)
ifneq ($(NATS_LIBS),)
CPPFLAGS += -DHAVE_NATS
endif
# Link-time optimisation of the daemons (gcc; not in a sanitizer build;
# LTO=0 turns it off): a frame's path crosses files (decode, the session
# hub, the fan-out, the analysers), and inlining across them took a tenth
# of reasmd's CPU on 64-byte frames.  The objects carry both forms
# (-ffat-lto-objects): the daemons link the optimised one, the tests and
# tools the plain code, so their links stay quick.
LTO ?= 1
CC_IS_GCC := $(shell $(CC) --version 2>/dev/null | grep -q 'Free Software Foundation' && echo 1)
ifeq ($(LTO)$(CC_IS_GCC)$(SANITIZER),11)
LTO_CFLAGS := -flto=auto -ffat-lto-objects
LTO_LDFLAGS := -flto=auto
endif
ALL_CFLAGS = $(WARN) $(CFLAGS) $(LTO_CFLAGS) $(SANFLAGS) -MMD -MP
LDLIBS += $(PKG_LIBS) $(SECCOMP_LIBS) $(NATS_LIBS) -lm -lpthread
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

COMMON_SRC := $(filter-out common/dump.c,$(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
LIBCOMMON := $(B)/libcommon.a

# Each daemon: every .c of its folder; main.c is left out of the
# library the unit tests link against.
define daemon
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_LIBOBJ := $$(patsubst %.c,$(B)/obj/%.o,$$(filter-out $(1)/main.c,$$($(1)_SRC)))
$(B)/$(1): $(B)/obj/$(1)/main.o $$($(1)_LIBOBJ) $(LIBCOMMON)
	$$(CC) $$(ALL_LDFLAGS) $$(LTO_LDFLAGS) $$(CFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
DAEMONS := capd reasmd sinkd ctld
$(foreach d,$(DAEMONS),$(eval $(call daemon,$(d))))

TOOLS := $(B)/stethoscope-dump $(B)/stethoscope-supervise $(B)/stethoscope-ctl
PROGS := $(addprefix $(B)/,$(DAEMONS)) $(TOOLS)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(B)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/replay_%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

all: $(PROGS) $(B)/man/.made

# Man pages, from each tool's --help (which lists every flag).
$(B)/man/.made: $(PROGS) scripts/mkman.sh scripts/mkconfman.py docs/configuration.md scripts/stethoscope-run scripts/stethoscope
	@sh scripts/mkman.sh $(B) $(B)/man && touch $@
EXAMPLES := $(if $(NATS_LIBS),$(B)/examples/nats-consumer)
tests-build: $(PROGS) $(B)/man/.made $(UNIT_BIN) $(HELPER_BIN) $(FUZZ_REPLAY) $(EXAMPLES)

# The examples build (and the tests run them) as a user would build them.
$(B)/examples/%: examples/%.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -o $@ $< $(ALL_LDFLAGS) $(NATS_LIBS)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# Tests and fuzz targets see the daemons' private headers too.
$(B)/obj/tests/%.o: CPPFLAGS += -Ireasmd -Isinkd -Ictld

$(LIBCOMMON): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/stethoscope-dump: $(B)/obj/common/dump.o $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/stethoscope-ctl: $(B)/obj/ctld/ctl/stethoscope-ctl.o $(B)/obj/ctld/ctl/natsub.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# stethoscope-run's supervisor (scripts/stethoscope-run is its entry).
$(B)/stethoscope-supervise: $(B)/obj/scripts/supervise.o $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link the library of every daemon (not its main.c).
ALL_LIBOBJ := $(foreach d,$(DAEMONS),$($(d)_LIBOBJ))
$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(ALL_LIBOBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/tests/%: $(B)/obj/tests/helpers/%.o $(ALL_LIBOBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)
# Fuzz targets, replayed over their corpora by any compiler...
$(B)/tests/replay_%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay.o $(ALL_LIBOBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)
# ...and run by libFuzzer when built with clang (make fuzz).
FUZZ_CFLAGS := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -O1 -g
build/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(foreach d,$(DAEMONS),$(filter-out $(d)/main.c,$($(d)_SRC)))
	@mkdir -p $(@D)
	clang $(CPPFLAGS) -Ireasmd -Isinkd -Ictld -std=c11 -Wall -Wextra $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS) $(SECCOMP_LIBS) $(NATS_LIBS) -lm -lpthread

deps:
	@scripts/deps.sh build

test: tests-deps
	@$(MAKE) --no-print-directory tests-build
	@tests/run.sh $(B)

tests-deps:
	@scripts/deps.sh test

check: tests-deps
	@$(MAKE) --no-print-directory SANITIZER=address,undefined tests-build
	@STH_SANITIZER=1 tests/run.sh build/san-address-undefined

# make fuzz [FUZZ_SECONDS=N] [FUZZ_JOBS=N] [FUZZ_TARGETS="fuzz_ctl ..."]:
# tests/fuzz/run.sh (corpora merged back, a ledger line per target).
fuzz: tests-deps $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_JOBS) $(or $(FUZZ_TARGETS),$(notdir $(FUZZ_BIN)))

run: 
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	@LIVE=$(LIVE) scripts/run-demo.sh $(B)

bench: 
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(B)/tests/ringstress $(B)/tests/benchgen $(B)/tests/pcaploop $(B)/tests/pacer
	@tests/bench/bench.sh $(B)

# make soak [SOAK_SECONDS=3600]: the whole tap for an hour, every output on;
# fails on growth of any daemon's RSS or descriptors, or unbalanced books.
soak: tests-deps all
	@sh tests/soak/soak.sh $(B)

# make valgrind: a short run of the same, every daemon under memcheck
# (stethoscope-run --wrapper): no error, no leak.
valgrind: tests-deps all
	@SOAK_SECONDS=$${SOAK_SECONDS:-20} SOAK_SESSIONS=$${SOAK_SESSIONS:-2} SOAK_CALL_EVERY=$${SOAK_CALL_EVERY:-4} \
	  SOAK_SAMPLE=5 SOAK_GROWTH=0 SOAK_DIR=$(CURDIR)/build/valgrind SOAK_WRAPPER="valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
	  --errors-for-leak-kinds=definite,indirect,possible --vgdb=no --num-callers=30" sh tests/soak/soak.sh $(B)

bench-live:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(B)/tests/benchgen $(B)/tests/pcaploop $(B)/tests/pacer
	@tests/bench/bench-live.sh $(B)
	@tests/bench/bench-ceiling.sh $(B)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(PROGS) scripts/stethoscope-run scripts/stethoscope $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 scripts/stethoscope.bash-completion \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/stethoscope
	install -m 0644 $(B)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(B)/man/stethoscope.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 scripts/systemd/*.service $(DESTDIR)$(PREFIX)/lib/systemd/system/

clean:
	rm -rf build

.PHONY: all tests-build deps test tests-deps check fuzz soak valgrind run bench bench-live install clean
.DELETE_ON_ERROR:
# Test objects are intermediates of their binaries: keep them, so that
# make stays incremental.
.SECONDARY:

-include $(shell find $(B)/obj -name "*.d" 2>/dev/null)

# ThreadSanitizer build of the ring stress (two threads), for tests/01-ring.bats.
build/tsan/ringstress: tests/helpers/ringstress.c common/ring.c common/chan.c common/util.c common/log.c common/wire.c common/privdrop.c
	@mkdir -p $(@D)
	clang $(CPPFLAGS) -std=c11 -Wall -Wextra -fsanitize=thread -O1 -g -o $@ $^ -lpthread
