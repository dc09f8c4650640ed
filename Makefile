# lumi: `make` builds ./lumi, `make test` runs the Check suite, `make run`
# runs the default experiment on the shipped model.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -MMD -MP
LDLIBS  += -lyaml -lz -lm -lpthread
# jansson reads JSON (tokenizer.json, safetensors headers, config.json), PCRE2
# runs pre-tokenizer regexes, libunistring normalises to NFC (it ships no
# pkg-config file).
TOK_PKGS := jansson libpcre2-8
CFLAGS  += $(shell pkg-config --cflags $(TOK_PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(TOK_PKGS) 2>/dev/null || echo -ljansson -lpcre2-8) -lunistring

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
$(BUILD)/paths/backend/cpu_kernels_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma
$(BUILD)/paths/backend/cpu_kernels_avx2.o: CFLAGS += -mavx2 -mfma
endif

# Backend blas links OpenBLAS when pkg-config finds it (libopenblas-dev);
# without it the backend is still listed and says how to get it.
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
ifneq ($(BLAS_LIBS),)
$(BUILD)/paths/backend/blas.o: CFLAGS += -DLUMI_HAVE_OPENBLAS $(shell pkg-config --cflags openblas)
LDLIBS += $(BLAS_LIBS)
endif

# lumi chat edits lines with libedit (BSD licence; libedit-dev) when
# pkg-config finds it; without it the prompt is a plain line read.
EDIT_LIBS := $(shell pkg-config --libs libedit 2>/dev/null)
ifneq ($(EDIT_LIBS),)
$(BUILD)/cli/cmd_chat.o: CFLAGS += -DLUMI_HAVE_LIBEDIT $(shell pkg-config --cflags libedit)
lumi: LDLIBS += $(EDIT_LIBS)
endif

# Backend opencl links the OpenCL ICD loader when pkg-config finds it
# (ocl-icd-opencl-dev + opencl-headers; Debian's pocl-opencl-icd runs it on
# the CPU). The kernels (OpenCL C) are embedded as a string literal made
# from paths/backend/opencl_kernels.cl. Without it the backend is listed and
# says how to get it.
OPENCL_LIBS := $(shell pkg-config --libs OpenCL 2>/dev/null)
ifneq ($(OPENCL_LIBS),)
$(BUILD)/paths/backend/opencl.o: CFLAGS += -DLUMI_HAVE_OPENCL -I$(BUILD)/paths/backend $(shell pkg-config --cflags OpenCL)
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
$(BUILD)/paths/backend/cuda.o: CFLAGS += -DLUMI_HAVE_CUDA -I$(CUDA_HOME)/include -DLUMI_CUDA_LIBDIR='"$(CUDA_HOME)/lib64"'
$(BUILD)/paths/backend/cuda_kernels.o: paths/backend/cuda_kernels.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 --fmad=false $(NVCC_ARCH) -c -o $@ $<
lumi $(BUILD)/run_tests: $(BUILD)/paths/backend/cuda_kernels.o
# the static runtime, and cuBLAS dlopen()ed by backend cublas only: every
# lumi command would otherwise load 500 MB of libcublasLt at start-up
LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
$(info note: nvcc not found (PATH, /usr/local/cuda/bin): backends cuda and cublas are left out)
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
