# src/kernels/kernels.mk
#	Make fragment for the distance kernels: per-file ISA flags, and the
#	standalone kernel test and micro-benchmark.
#
# Included by the PGXS Makefile (from the repository root), or run alone:
#	make -f src/kernels/kernels.mk check-kernels bench-kernels
#	make -f src/kernels/kernels.mk check-kernels-arm64	(cross + qemu)
#
# check-kernels runs two programs: test_kernels (every entry against the
# scalar reference) and test_rabitq (the RaBitQ codec of rabitq.c: its
# kernels, rotation, lower bound and estimator), and test_strtof (the text
# input's float reader, src/types/vecstrtof.c, against the C library's
# strtof).
#
# Only kernels_avx2.c and kernels_avx512.c get -m flags, so one build runs
# on any x86-64 and vk_init() picks the widest unit at load time.  No
# -march=native, and no -ffast-math anywhere (the scalar kernels must stay
# the plain in-order reference).  kernels_avx2.c has -mpopcnt for its bit
# kernels; vk_detect() checks POPCNT too (every AVX2 CPU has it).

# Remember the caller's default goal: including this fragment must not make
# check-kernels the default target of the extension's Makefile.
vk_saved_default_goal := $(.DEFAULT_GOAL)

# x86-64 only; on other machines the ISA files compile to nothing.
# kernels_neon.c needs no flag: NEON is baseline on AArch64, and the file
# compiles to nothing elsewhere.  What counts is the compiler's target, not
# the build machine, so that a cross build (CC=aarch64-linux-gnu-gcc) gets
# no -m flag it would reject.
VK_CC = $(if $(CC),$(CC),cc)
VK_TARGET := $(or $(shell $(VK_CC) -dumpmachine 2>/dev/null),$(shell uname -m))
ifneq ($(filter x86_64% amd64%,$(VK_TARGET)),)
VK_AVX2_FLAGS = -mavx2 -mfma -mpopcnt -mf16c
VK_AVX512_FLAGS = -mavx512f -mavx512vpopcntdq -mavx512bw -mavx512vl -mavx2 -mfma -mpopcnt -mf16c
endif

# PGXS builds %.o from %.c with $(CC) $(CFLAGS) $(CPPFLAGS), and with LLVM
# JIT support also %.bc with $(BITCODE_CFLAGS); both need the ISA flags, or
# the intrinsics do not compile.
src/kernels/kernels_avx2.o: CFLAGS += $(VK_AVX2_FLAGS)
src/kernels/kernels_avx512.o: CFLAGS += $(VK_AVX512_FLAGS)
src/kernels/kernels_avx2.bc: BITCODE_CFLAGS += $(VK_AVX2_FLAGS)
src/kernels/kernels_avx512.bc: BITCODE_CFLAGS += $(VK_AVX512_FLAGS)

# Standalone test and benchmark: their own objects and flags in build/
# (never the PGXS objects), with the same per-file ISA flags as above.
VK_BUILD = build/kernels
VK_CFLAGS = -O2 -g -Wall -Wextra -Wmissing-prototypes -Wdeclaration-after-statement
VK_INCLUDES = -Isrc/kernels
VK_LIBS = -lm

VK_HEADERS = src/kernels/kernels.h src/kernels/f16.h src/kernels/rabitq.h
VK_OBJS = $(VK_BUILD)/kernels.o $(VK_BUILD)/kernels_avx2.o $(VK_BUILD)/kernels_avx512.o \
	$(VK_BUILD)/kernels_neon.o $(VK_BUILD)/rabitq.o

$(VK_BUILD):
	mkdir -p $@

$(VK_BUILD)/kernels.o: src/kernels/kernels.c $(VK_HEADERS) | $(VK_BUILD)
	$(VK_CC) $(VK_CFLAGS) $(VK_INCLUDES) -c -o $@ $<

$(VK_BUILD)/kernels_avx2.o: src/kernels/kernels_avx2.c $(VK_HEADERS) | $(VK_BUILD)
	$(VK_CC) $(VK_CFLAGS) $(VK_AVX2_FLAGS) $(VK_INCLUDES) -c -o $@ $<

$(VK_BUILD)/kernels_avx512.o: src/kernels/kernels_avx512.c $(VK_HEADERS) | $(VK_BUILD)
	$(VK_CC) $(VK_CFLAGS) $(VK_AVX512_FLAGS) $(VK_INCLUDES) -c -o $@ $<

$(VK_BUILD)/kernels_neon.o: src/kernels/kernels_neon.c $(VK_HEADERS) | $(VK_BUILD)
	$(VK_CC) $(VK_CFLAGS) $(VK_INCLUDES) -c -o $@ $<

$(VK_BUILD)/rabitq.o: src/kernels/rabitq.c $(VK_HEADERS) | $(VK_BUILD)
	$(VK_CC) $(VK_CFLAGS) $(VK_INCLUDES) -c -o $@ $<

$(VK_BUILD)/test_rabitq: test/kernels/test_rabitq.c $(VK_OBJS) $(VK_HEADERS)
	$(VK_CC) $(VK_CFLAGS) $(VK_INCLUDES) -o $@ $< $(VK_OBJS) $(VK_LIBS)

$(VK_BUILD)/test_kernels: test/kernels/test_kernels.c $(VK_OBJS) $(VK_HEADERS)
	$(VK_CC) $(VK_CFLAGS) $(VK_INCLUDES) -o $@ $< $(VK_OBJS) $(VK_LIBS)

$(VK_BUILD)/test_strtof: test/kernels/test_strtof.c src/types/vecstrtof.c src/types/vecstrtof.h | $(VK_BUILD)
	$(VK_CC) $(VK_CFLAGS) -Isrc/types -o $@ test/kernels/test_strtof.c src/types/vecstrtof.c $(VK_LIBS)

$(VK_BUILD)/bench_kernels: bench/bench_kernels.c $(VK_OBJS) $(VK_HEADERS)
	$(VK_CC) $(VK_CFLAGS) $(VK_INCLUDES) -o $@ $< $(VK_OBJS) $(VK_LIBS)

# AArch64: the same kernel test, cross-compiled with -Werror and run under
# qemu-user on this x86-64 machine (Debian: gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, qemu-user-static).  Static, so that qemu needs no
# AArch64 libraries; the ARMv8.0 Cortex-A53 model, so that an instruction
# beyond the base architecture would trap (SIGILL) instead of passing.
# Every kernels_*.c is compiled, so the x86 files must also build (to
# nothing) there.  qemu's timings say nothing about real ARM hardware.
VK_ARM64_BUILD = build/kernels-arm64
VK_ARM64_CC = aarch64-linux-gnu-gcc
VK_ARM64_QEMU = qemu-aarch64-static -cpu cortex-a53
VK_ARM64_OBJS = $(patsubst src/kernels/%.c,$(VK_ARM64_BUILD)/%.o,$(wildcard src/kernels/*.c))

$(VK_ARM64_BUILD):
	mkdir -p $@

$(VK_ARM64_OBJS): $(VK_ARM64_BUILD)/%.o: src/kernels/%.c $(VK_HEADERS) | $(VK_ARM64_BUILD)
	$(VK_ARM64_CC) $(VK_CFLAGS) -Werror $(VK_INCLUDES) -c -o $@ $<

$(VK_ARM64_BUILD)/test_kernels: test/kernels/test_kernels.c $(VK_ARM64_OBJS) $(VK_HEADERS)
	$(VK_ARM64_CC) $(VK_CFLAGS) -Werror -static $(VK_INCLUDES) -o $@ $< $(VK_ARM64_OBJS) $(VK_LIBS)

$(VK_ARM64_BUILD)/test_rabitq: test/kernels/test_rabitq.c $(VK_ARM64_OBJS) $(VK_HEADERS)
	$(VK_ARM64_CC) $(VK_CFLAGS) -Werror -static $(VK_INCLUDES) -o $@ $< $(VK_ARM64_OBJS) $(VK_LIBS)

$(VK_ARM64_BUILD)/test_strtof: test/kernels/test_strtof.c src/types/vecstrtof.c src/types/vecstrtof.h | $(VK_ARM64_BUILD)
	$(VK_ARM64_CC) $(VK_CFLAGS) -Werror -static -Isrc/types -o $@ test/kernels/test_strtof.c src/types/vecstrtof.c $(VK_LIBS)

$(VK_ARM64_BUILD)/bench_kernels: bench/bench_kernels.c $(VK_ARM64_OBJS) $(VK_HEADERS)
	$(VK_ARM64_CC) $(VK_CFLAGS) -Werror -static $(VK_INCLUDES) -o $@ $< $(VK_ARM64_OBJS) $(VK_LIBS)

.PHONY: check-kernels bench-kernels clean-kernels check-kernels-arm64 bench-kernels-arm64

# test_rabitq --quick: fewer random pairs, as qemu runs it about 20 times slower
check-kernels-arm64: $(VK_ARM64_BUILD)/test_kernels $(VK_ARM64_BUILD)/test_rabitq $(VK_ARM64_BUILD)/test_strtof
	$(VK_ARM64_QEMU) $(VK_ARM64_BUILD)/test_kernels
	$(VK_ARM64_QEMU) $(VK_ARM64_BUILD)/test_rabitq --quick
	$(VK_ARM64_QEMU) $(VK_ARM64_BUILD)/test_strtof

# a sanity check of the NEON code paths only: emulated timings
bench-kernels-arm64: $(VK_ARM64_BUILD)/bench_kernels
	$(VK_ARM64_QEMU) $(VK_ARM64_BUILD)/bench_kernels

check-kernels: $(VK_BUILD)/test_kernels $(VK_BUILD)/test_rabitq $(VK_BUILD)/test_strtof
	$(VK_BUILD)/test_kernels
	$(VK_BUILD)/test_rabitq
	$(VK_BUILD)/test_strtof

bench-kernels: $(VK_BUILD)/bench_kernels
	$(VK_BUILD)/bench_kernels

clean-kernels:
	rm -rf $(VK_BUILD) $(VK_ARM64_BUILD)

EXTRA_CLEAN += $(VK_BUILD) $(VK_ARM64_BUILD)

# Run alone, "make -f src/kernels/kernels.mk" runs the test; included, the
# caller's default goal (or the first target after us) stands.
ifeq ($(notdir $(firstword $(MAKEFILE_LIST))),kernels.mk)
.DEFAULT_GOAL := check-kernels
else
.DEFAULT_GOAL := $(vk_saved_default_goal)
endif
