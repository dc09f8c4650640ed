# lumi: `make` builds ./lumi, `make test` runs the Check suite, `make run`
# runs the default experiment on the shipped model.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -MMD -MP
LDLIBS  += -lyaml -lz -lm -lpthread

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

BUILD   := build
LIB_SRC := $(wildcard engine/*.c paths/*.c paths/*/*.c experiments/*.c)
CLI_SRC := $(wildcard cli/*.c)
TEST_SRC:= $(wildcard tests/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ:= $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test run clean
all: lumi

lumi: $(LIB_OBJ) $(CLI_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Only the SIMD kernel files get vector ISA flags, so ./lumi runs on any
# x86-64; paths/backend/cpu.c picks the table the CPU supports at run time.
ifneq ($(filter x86_64 amd64,$(shell uname -m)),)
$(BUILD)/paths/backend/cpu_kernels_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mfma -mf16c
$(BUILD)/paths/backend/cpu_kernels_avx2.o: CFLAGS += -mavx2 -mfma -mf16c
endif

# Backend blas links OpenBLAS when pkg-config finds it (libopenblas-dev);
# without it the backend is still listed and says how to get it.
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
ifneq ($(BLAS_LIBS),)
$(BUILD)/paths/backend/blas.o: CFLAGS += -DLUMI_HAVE_OPENBLAS $(shell pkg-config --cflags openblas)
LDLIBS += $(BLAS_LIBS)
endif

$(BUILD)/run_tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

# Tests run from the repository root: they read models/ and ../shared/models
# and call ./lumi for the command-line checks.
test: lumi $(BUILD)/run_tests
	./$(BUILD)/run_tests

run: lumi
	./lumi run configs/quickstart.yaml

# The commit run.json records: only runinfo.o sees it, and it is rebuilt
# when build/commit.txt changes (the stamp is rewritten only on a change).
LUMI_COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null && echo $$c || echo $$c-dirty; } || echo unknown)
$(BUILD)/commit.txt: FORCE
	@mkdir -p $(BUILD); [ "$$(cat $@ 2>/dev/null)" = "$(LUMI_COMMIT)" ] || echo "$(LUMI_COMMIT)" > $@
$(BUILD)/experiments/runinfo.o: $(BUILD)/commit.txt
$(BUILD)/experiments/runinfo.o: CFLAGS += -DLUMI_COMMIT='"$(LUMI_COMMIT)"'
.PHONY: FORCE
FORCE:

clean:
	rm -rf $(BUILD) lumi

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
