# NeonBlue — build, test, bench, demo. Libraries come from pkg-config.
PKGS      := ncursesw libcurl rdkafka libpq libcjson gsl libcrypto libmicrohttpd libpcre2-8
CC        ?= cc
WARN      := -Wall -Wextra -Werror
BASEFLAGS  = -std=c17 -D_GNU_SOURCE $(WARN) -Iinclude -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDLIBS     = $(shell pkg-config --libs $(PKGS)) -lpthread -lm
OPT       := -O2 -g
SAN       := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

# Every .c under core/ is part of the library: a new folder needs no list.
CORE_SRC  := $(sort $(shell find core -name '*.c'))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TUI_SRC   := $(sort $(wildcard tui/*.c))
SERVE_SRC := $(sort $(wildcard serve/*.c))
SQL_SRC   := $(sort $(wildcard core/sql/pg/*.sql core/sql/ch/*.sql))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))

# $(1) = output dir, $(2) = flags
define objs
$(patsubst %.c,$(1)/obj/%.o,$(CORE_SRC)) $(1)/obj/gen/sql_embed.o
endef
REL_LIB_OBJ := $(call objs,build)
SAN_LIB_OBJ := $(call objs,build/asan)
REL_APP_OBJ := $(patsubst %.c,build/obj/%.o,$(CLI_SRC) $(TUI_SRC) $(SERVE_SRC))
SAN_APP_OBJ := $(patsubst %.c,build/asan/obj/%.o,$(CLI_SRC) $(TUI_SRC) $(SERVE_SRC))
UNIT_BIN    := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
BENCH_BIN   := $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))

.PHONY: all deps test bench asan clean demo check-format check-deps fuzz fuzz-build
all: build/libneonblue.a build/neonblue

deps:
	@tools/deps.sh

build/gen/sql_embed.c: $(SQL_SRC) tools/embed_sql.sh
	@mkdir -p $(@D)
	tools/embed_sql.sh $(SQL_SRC) > $@.$$$$.tmp && mv $@.$$$$.tmp $@

build/obj/gen/sql_embed.o: build/gen/sql_embed.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -Icore -c $< -o $@
build/asan/obj/gen/sql_embed.o: build/gen/sql_embed.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(SAN) -Icore -c $< -o $@

build/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -c $< -o $@
build/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(SAN) -c $< -o $@

build/libneonblue.a: $(REL_LIB_OBJ)
	rm -f $@.$$$$.tmp && ar qcs $@.$$$$.tmp $^ && mv -f $@.$$$$.tmp $@
build/asan/libneonblue.a: $(SAN_LIB_OBJ)
	rm -f $@.$$$$.tmp && ar qcs $@.$$$$.tmp $^ && mv -f $@.$$$$.tmp $@

# Link to a temporary name, then rename: a running test never sees a half-written binary.
build/neonblue: $(REL_APP_OBJ) build/libneonblue.a
	$(CC) $(OPT) -o $@.$$$$.tmp $^ $(LDLIBS) && mv -f $@.$$$$.tmp $@
build/asan/neonblue: $(SAN_APP_OBJ) build/asan/libneonblue.a
	$(CC) $(SAN) -o $@.$$$$.tmp $^ $(LDLIBS) && mv -f $@.$$$$.tmp $@

build/asan/tests/%: tests/unit/%.c build/asan/libneonblue.a tests/nbtest.h
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(SAN) -MT $@ -MF $@.d -Itests -o $@.$$$$.tmp $< build/asan/libneonblue.a $(LDLIBS) && mv -f $@.$$$$.tmp $@

# NeonBlue's side of the differential tests against the GrowthBook SDK (tests/cli/sdk_diff.sh,
# tests/cli/sdk_flags.sh).
# nb_flags links the flags' payload builder of serve/ (serve/features.c).
build/asan/tests/sdk/nb_flags: build/asan/obj/serve/features.o
build/asan/tests/sdk/%: tests/sdk/%.c build/asan/libneonblue.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(SAN) -MT $@ -MF $@.d -o $@.$$$$.tmp $< $(filter %.o,$^) build/asan/libneonblue.a $(LDLIBS) && mv -f $@.$$$$.tmp $@

build/bench/%: bench/%.c build/libneonblue.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -Itests -o $@ $< build/libneonblue.a $(LDLIBS)

asan: build/asan/neonblue $(UNIT_BIN) build/asan/tests/sdk/nb_eval build/asan/tests/sdk/nb_flags

# The README's test command: deps, sanitizer build, every suite, one summary line.
test: deps
	@$(MAKE) -j$$(nproc) --no-print-directory asan all fuzz-build
	tests/run.sh $(T)

# The dependency rule of docs/architecture.md, over includes and the release objects' symbols.
check-deps: build/libneonblue.a build/neonblue
	tools/check-deps.py build/obj

# bench_serve.sh's load generator (not a benchmark itself: bench/run.sh runs build/bench/bench_*)
build/bench/httpload: bench/httpload.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) -MMD -MP -o $@ $<

bench: deps
	@$(MAKE) -j$$(nproc) --no-print-directory all $(BENCH_BIN) build/bench/httpload
	bench/run.sh $(B)

# ---- fuzzing (docs/fuzzing.md): libFuzzer harnesses in tests/fuzz/, built with clang ----
FUZZ_CC     := clang
FUZZ_SAN    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN    := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB_OBJ := $(call objs,build/fuzz)
FUZZ_TIME   ?= 60
# The theme harness compiles the dashboard's theme parser in (tui/ is private to the dashboard).
FUZZ_THEME  := -Wno-unknown-warning-option -Itui -DFUZZ_THEME_C='"$(CURDIR)/tui/theme.c"'
# The serve harness includes serve/serve.c and serve/api.c (their static
# functions) and links the other files of serve/.
FUZZ_SERVE_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(filter-out serve/serve.c serve/api.c,$(SERVE_SRC)))
build/fuzz/fuzz_serve: $(FUZZ_SERVE_OBJ)

build/fuzz/obj/gen/sql_embed.o: build/gen/sql_embed.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(BASEFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Icore -c $< -o $@
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(BASEFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/libneonblue.a: $(FUZZ_LIB_OBJ)
	rm -f $@.$$$$.tmp && ar qcs $@.$$$$.tmp $^ && mv -f $@.$$$$.tmp $@
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libneonblue.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(BASEFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $(if $(filter theme,$*),$(FUZZ_THEME)) -MT $@ -MF $@.d -o $@.$$$$.tmp $< $(if $(filter serve,$*),$(FUZZ_SERVE_OBJ)) build/fuzz/libneonblue.a $(LDLIBS) && mv -f $@.$$$$.tmp $@

fuzz-build: $(FUZZ_BIN)

# Every target for FUZZ_TIME seconds (F=NAME: only fuzz_NAME); fails on any crash, leak or timeout.
fuzz: deps
	@$(MAKE) -j$$(nproc) --no-print-directory fuzz-build
	tests/fuzz/run.sh $(FUZZ_TIME) $(F)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- the dashboard's demo and screenshots (tools/demo.sh, tools/screenshots.sh) ----
demo: deps
	@$(MAKE) --no-print-directory all
	tools/demo.sh

.PHONY: screenshots
screenshots: all
	tools/screenshots.sh
