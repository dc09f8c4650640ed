# lumi: `make` builds ./lumi, `make test` runs the Check suite, `make run`
# runs the default experiment on the shipped model.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
# Flags the build needs whatever CFLAGS the user passes: kept in their own
# variable so `make CFLAGS=...` adds to them instead of replacing them.
# Per-object additions (ISA flags, feature macros) go in OBJ_CFLAGS.
LUMI_CFLAGS := -std=c11 -Wall -Wextra -D_GNU_SOURCE -MMD -MP
ALL_CFLAGS   = $(LUMI_CFLAGS) $(CFLAGS) $(OBJ_CFLAGS) $(SAN_FLAGS)
LDLIBS  += -lyaml -lz -lm -lpthread
# jansson reads JSON (tokenizer.json, safetensors headers, config.json), PCRE2
# runs pre-tokenizer regexes, libunistring normalises to NFC (it ships no
# pkg-config file).
TOK_PKGS := jansson libpcre2-8
CFLAGS  += $(shell pkg-config --cflags $(TOK_PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(TOK_PKGS) 2>/dev/null || echo -ljansson -lpcre2-8) -lunistring

# First contact: before building for `make run`/`make test` (or plain
# `make`), tools/deps.sh checks the Debian packages and installs what is
# missing when root, or stops with the exact `sudo apt-get install` line.
# It runs at parse time so the pkg-config probes below see what it installed.
# Sanitizer and fuzzing builds also need clang (the CI list). LUMI_NO_DEPS=1
# skips it.
DEPS_LIST := $(if $(SANITIZE)$(filter fuzz fuzz-run,$(MAKECMDGOALS)),ensure-ci,ensure)
ifeq ($(LUMI_NO_DEPS),)
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
DEPS_RC := $(shell tools/deps.sh $(DEPS_LIST) >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error missing packages (see above); LUMI_NO_DEPS=1 skips this check)
endif
endif
endif

# SANITIZE=1: clang with AddressSanitizer + UBSan, any report fatal, in its
# own build folder so it never mixes with the normal objects.
ifneq ($(SANITIZE),)
CC        := clang
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += $(SAN_FLAGS)
BUILD     := build-san
SAN_LOGS  := $(CURDIR)/$(BUILD)/reports
SAN_ENV   := ASAN_OPTIONS=exitcode=99:detect_leaks=1:log_path=$(SAN_LOGS)/asan \
             UBSAN_OPTIONS=exitcode=99:halt_on_error=1:print_stacktrace=1:log_path=$(SAN_LOGS)/ubsan
else
BUILD     := build
endif
FUZZ_BUILD := build-fuzz

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

LIB_SRC := $(wildcard engine/*.c paths/*.c paths/*/*.c experiments/*.c)
CLI_SRC := $(wildcard cli/*.c)
TEST_SRC:= $(wildcard tests/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ:= $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test run clean fuzz fuzz-run
all: lumi

# The sanitized binary stays in its build folder; the tests find it through
# LUMI_BIN (tests/helpers.c).
LUMI_BIN := $(if $(SANITIZE),$(BUILD)/lumi,lumi)
ifneq ($(SANITIZE),)
lumi: $(LUMI_BIN)
endif
$(LUMI_BIN): $(LIB_OBJ) $(CLI_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Only the SIMD kernel files get vector ISA flags, so ./lumi runs on any
# x86-64; paths/backend/cpu.c picks the table the CPU supports at run time.
ifneq ($(filter x86_64 amd64,$(shell uname -m)),)
$(BUILD)/paths/backend/cpu_kernels_avx512.o $(FUZZ_BUILD)/paths/backend/cpu_kernels_avx512.o: \
    OBJ_CFLAGS += -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
$(BUILD)/paths/backend/cpu_kernels_avx2.o $(FUZZ_BUILD)/paths/backend/cpu_kernels_avx2.o: OBJ_CFLAGS += -mavx2 -mfma -mf16c
endif

# Optional libraries: $(call optional_lib,PKG) is pkg-config's --libs for PKG
# (empty when absent) and records them with its --cflags in $(BUILD)/config/PKG, rewritten only
# when they change; objects that test for the library depend on that file, so
# installing (or removing) it takes effect on the next `make`, no `make clean`.
optional_lib = $(shell v="$$(pkg-config --cflags --libs $(1) 2>/dev/null)"; \
    mkdir -p $(BUILD)/config; f=$(BUILD)/config/$(1); \
    [ -f $$f ] && [ "$$(cat $$f)" = "$$v" ] || echo "$$v" > $$f; \
    [ -n "$$v" ] && pkg-config --libs $(1))

# Backend blas links OpenBLAS when pkg-config finds it (libopenblas-dev);
# without it the backend is still listed and says how to get it.
BLAS_LIBS := $(call optional_lib,openblas)
$(BUILD)/paths/backend/blas.o: $(BUILD)/config/openblas
ifneq ($(BLAS_LIBS),)
$(BUILD)/paths/backend/blas.o: OBJ_CFLAGS += -DLUMI_HAVE_OPENBLAS $(shell pkg-config --cflags openblas)
LDLIBS += $(BLAS_LIBS)
endif

# lumi chat edits lines with libedit (BSD licence; libedit-dev) when
# pkg-config finds it; without it the prompt is a plain line read.
EDIT_LIBS := $(call optional_lib,libedit)
$(BUILD)/cli/cmd_chat.o: $(BUILD)/config/libedit
ifneq ($(EDIT_LIBS),)
$(BUILD)/cli/cmd_chat.o: OBJ_CFLAGS += -DLUMI_HAVE_LIBEDIT $(shell pkg-config --cflags libedit)
LDLIBS += $(EDIT_LIBS)
endif

# Backend opencl links the OpenCL ICD loader when pkg-config finds it
# (ocl-icd-opencl-dev + opencl-headers; Debian's pocl-opencl-icd runs it on
# the CPU). The kernels (OpenCL C) are embedded as a string literal made
# from paths/backend/opencl_kernels.cl. Without it the backend is listed and
# says how to get it.
OPENCL_LIBS := $(call optional_lib,OpenCL)
$(BUILD)/paths/backend/opencl.o: $(BUILD)/config/OpenCL
ifneq ($(OPENCL_LIBS),)
$(BUILD)/paths/backend/opencl.o: OBJ_CFLAGS += -DLUMI_HAVE_OPENCL -I$(BUILD)/paths/backend $(shell pkg-config --cflags OpenCL)
$(BUILD)/paths/backend/opencl.o: $(BUILD)/paths/backend/opencl_kernels.inc
$(BUILD)/paths/backend/opencl_kernels.inc: paths/backend/opencl_kernels.cl
	@mkdir -p $(dir $@)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@
LDLIBS += $(OPENCL_LIBS)
else
$(info note: OpenCL not found by pkg-config: backend opencl is left out (install ocl-icd-opencl-dev opencl-headers))
endif

# Backends cuda and cublas: built when nvcc is on PATH or in /usr/local/cuda
# (NVCC=... to choose); the kernels go through nvcc, the rest is C against
# the runtime and cuBLAS headers. Without nvcc both are listed and say how
# to get them. NVCC_ARCH: the GPUs to build for (sm_80 A100, sm_90 H100/H200).
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
ifneq ($(NVCC),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
$(BUILD)/paths/backend/cuda.o: OBJ_CFLAGS += -DLUMI_HAVE_CUDA -I$(CUDA_HOME)/include -DLUMI_CUDA_LIBDIR='"$(CUDA_HOME)/lib64"'
$(BUILD)/paths/backend/cuda_kernels.o: paths/backend/cuda_kernels.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 --fmad=false $(NVCC_ARCH) -c -o $@ $<
$(LUMI_BIN) $(BUILD)/run_tests: $(BUILD)/paths/backend/cuda_kernels.o
# the static runtime, and cuBLAS dlopen()ed by backend cublas only: every
# lumi command would otherwise load 500 MB of libcublasLt at start-up
LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
$(info note: nvcc not found (PATH, /usr/local/cuda/bin): backends cuda and cublas are left out)
endif

$(BUILD)/run_tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

# Tests run from the repository root: they read models/ and ../shared/models
# and call ./lumi (LUMI_BIN) for the command-line checks.
test: $(LUMI_BIN) $(BUILD)/run_tests
ifeq ($(SANITIZE),)
	LUMI_BIN=./$(LUMI_BIN) ./$(BUILD)/run_tests
else
	@# every report also goes to a file, so one from a ./lumi whose exit status
	@# a test does not see (a pipeline, 2>/dev/null) still fails the run
	@rm -rf $(SAN_LOGS); mkdir -p $(SAN_LOGS)
	$(SAN_ENV) LUMI_BIN=./$(LUMI_BIN) ./$(BUILD)/run_tests
	@if [ -n "$$(ls -A $(SAN_LOGS))" ]; then cat $(SAN_LOGS)/*; \
	    echo "sanitizer reports above (also in $(SAN_LOGS)/)" >&2; exit 1; fi
endif

run: lumi
	./lumi run configs/quickstart.yaml

# The commit run.json records: only runinfo.o sees it, and it is rebuilt
# when build/commit.txt changes (the stamp is rewritten only on a change).
LUMI_COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null && echo $$c || echo $$c-dirty; } || echo unknown)
$(BUILD)/commit.txt: FORCE
	@mkdir -p $(BUILD); [ "$$(cat $@ 2>/dev/null)" = "$(LUMI_COMMIT)" ] || echo "$(LUMI_COMMIT)" > $@
$(BUILD)/experiments/runinfo.o: $(BUILD)/commit.txt
$(BUILD)/experiments/runinfo.o: OBJ_CFLAGS += -DLUMI_COMMIT='"$(LUMI_COMMIT)"'
.PHONY: FORCE
FORCE:

# Fuzzing: every fuzz/fuzz_NAME.c is a libFuzzer target, built as
# build-fuzz/fuzz_NAME and seeded from fuzz/corpus/NAME/ (a new target is
# one file plus its seeds). The library is rebuilt with clang, coverage and
# ASan+UBSan in build-fuzz/. `make fuzz-run SECONDS=N` runs each for N s;
# what they find goes to build-fuzz/corpus/NAME/ (the committed seeds are
# only read) and crashes to build-fuzz/crashes/.
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_OBJ   := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SAN   := address,undefined
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
SECONDS    ?= 10
fuzz: $(FUZZ_BIN)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(LUMI_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) $(OBJ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_OBJ)
	clang $(LUMI_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

fuzz-run: fuzz
	@for t in $(FUZZ_BIN); do n=$${t#$(FUZZ_BUILD)/fuzz_}; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/crashes; echo "== fuzz $$n: $(SECONDS) s"; \
	    $$t -max_total_time=$(SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/crashes/$$n- $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n 2>$(FUZZ_BUILD)/$$n.log \
	        || { tail -60 $(FUZZ_BUILD)/$$n.log; echo "fuzz $$n: FAILED (log $(FUZZ_BUILD)/$$n.log)"; exit 1; }; \
	    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" $(FUZZ_BUILD)/$$n.log | tr '\n' ' '; echo; \
	done

clean:
	rm -rf build build-san build-fuzz lumi

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
