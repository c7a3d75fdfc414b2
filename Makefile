# NeonBlue — build, test, bench, demo. Libraries come from pkg-config.
PKGS      := ncursesw libcurl rdkafka libpq libcjson gsl libpcre2-8
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
SQL_SRC   := $(sort $(wildcard core/sql/pg/*.sql core/sql/ch/*.sql))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))

# $(1) = output dir, $(2) = flags
define objs
$(patsubst %.c,$(1)/obj/%.o,$(CORE_SRC)) $(1)/obj/gen/sql_embed.o
endef
REL_LIB_OBJ := $(call objs,build)
SAN_LIB_OBJ := $(call objs,build/asan)
REL_APP_OBJ := $(patsubst %.c,build/obj/%.o,$(CLI_SRC) $(TUI_SRC))
SAN_APP_OBJ := $(patsubst %.c,build/asan/obj/%.o,$(CLI_SRC) $(TUI_SRC))
UNIT_BIN    := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
BENCH_BIN   := $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))

.PHONY: all deps test bench asan clean demo check-format check-deps
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

# NeonBlue's side of the differential test against the GrowthBook SDK (tests/cli/sdk_diff.sh).
build/asan/tests/sdk/nb_eval: tests/sdk/nb_eval.c build/asan/libneonblue.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(SAN) -MT $@ -MF $@.d -o $@.$$$$.tmp $< build/asan/libneonblue.a $(LDLIBS) && mv -f $@.$$$$.tmp $@

build/bench/%: bench/%.c build/libneonblue.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -Itests -o $@ $< build/libneonblue.a $(LDLIBS)

asan: build/asan/neonblue $(UNIT_BIN) build/asan/tests/sdk/nb_eval

# The README's test command: deps, sanitizer build, every suite, one summary line.
test: deps
	@$(MAKE) -j$$(nproc) --no-print-directory asan all
	tests/run.sh $(T)

# The dependency rule of docs/architecture.md, over includes and the release objects' symbols.
check-deps: build/libneonblue.a build/neonblue
	tools/check-deps.py build/obj

bench: deps
	@$(MAKE) -j$$(nproc) --no-print-directory all $(BENCH_BIN)
	bench/run.sh $(B)

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
