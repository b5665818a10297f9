/*
 * kernels.c
 *	  Scalar reference kernels, CPU detection and the dispatch table.
 *
 * This file owns the portable C kernels (the fallback on every CPU and the
 * oracle the kernel test compares the SIMD versions against), the probe of
 * the CPU and OS (CPUID + XGETBV on x86-64; nothing to probe on AArch64,
 * where NEON is architectural), and vk_active, the table every caller goes
 * through.
 *
 * It is built without any -m flag and must not include an intrinsics header:
 * code here runs before we know which instructions exist.  The scalar loops
 * are deliberately plain, one accumulator walking the elements in order, so
 * that they are an honest reference; as we never build with -ffast-math the
 * compiler may not reassociate (and so not vectorise) the float sums.
 *
 * src/kernels/kernels.c
 */
#include "kernels.h"
#include "f16.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif


/* ----------------------------------------------------------------------
 * Scalar kernels
 * ----------------------------------------------------------------------
 */

static float
f32L2SqScalar(const float *a, const float *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	return sum;
}

static float
f32DotScalar(const float *a, const float *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

static float
f32L1Scalar(const float *a, const float *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

static void
f32DotNormsScalar(const float *a, const float *b, int n,
				  float *dot, float *aa, float *bb)
{
	float		sdot = 0.0f;
	float		saa = 0.0f;
	float		sbb = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		sdot += a[i] * b[i];
		saa += a[i] * a[i];
		sbb += b[i] * b[i];
	}
	*dot = sdot;
	*aa = saa;
	*bb = sbb;
}

static float
f32NormSqScalar(const float *a, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += a[i] * a[i];
	return sum;
}

/*
 * The batches call the single kernels, so that a distance is bit-for-bit the
 * same whichever path computed it (the SIMD tables keep that promise too).
 */
static void
f32L2SqBatchScalar(const float *q, const float *const *items,
				   int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
		out[i] = f32L2SqScalar(q, items[i], n);
}

static void
f32DotBatchScalar(const float *q, const float *const *items,
				  int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
		out[i] = f32DotScalar(q, items[i], n);
}

static void
f32DotRowsScalar(const float *q, const float *rows, size_t stride,
				 int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
		out[i] = f32DotScalar(q, rows + (size_t) i * stride, n);
}

/*
 * Portable popcount (no -mpopcnt here, and we do not want a libgcc call in
 * the reference).
 */
static inline uint64_t
popcount64Scalar(uint64_t x)
{
	x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
	x = (x & UINT64_C(0x3333333333333333)) +
		((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (x * UINT64_C(0x0101010101010101)) >> 56;
}

/* Bit strings carry no alignment guarantee: go through memcpy. */
static inline uint64_t
load64Scalar(const uint8_t *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static uint64_t
bitHammingScalar(const uint8_t *a, const uint8_t *b, int nbytes)
{
	uint64_t	count = 0;
	int			i = 0;

	for (; i + 8 <= nbytes; i += 8)
		count += popcount64Scalar(load64Scalar(a + i) ^ load64Scalar(b + i));
	for (; i < nbytes; i++)
		count += popcount64Scalar((uint64_t) (a[i] ^ b[i]));
	return count;
}

static void
bitAndOrCountScalar(const uint8_t *a, const uint8_t *b, int nbytes,
					uint64_t *inter, uint64_t *uni)
{
	uint64_t	ci = 0;
	uint64_t	cu = 0;
	int			i = 0;

	for (; i + 8 <= nbytes; i += 8)
	{
		uint64_t	wa = load64Scalar(a + i);
		uint64_t	wb = load64Scalar(b + i);

		ci += popcount64Scalar(wa & wb);
		cu += popcount64Scalar(wa | wb);
	}
	for (; i < nbytes; i++)
	{
		ci += popcount64Scalar((uint64_t) (a[i] & b[i]));
		cu += popcount64Scalar((uint64_t) (a[i] | b[i]));
	}
	*inter = ci;
	*uni = cu;
}

/*
 * Half kernels: each element widened by the portable conversion, then the
 * same in-order float sums as the float4 reference above.
 */
static void
f16ToF32Scalar(const uint16_t *in, float *out, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		out[i] = vk_f16_to_f32(in[i]);
}

static void
f32ToF16Scalar(const float *in, uint16_t *out, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		out[i] = vk_f32_to_f16(in[i]);
}

static float
f16L2SqScalar(const uint16_t *a, const uint16_t *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		d = vk_f16_to_f32(a[i]) - vk_f16_to_f32(b[i]);

		sum += d * d;
	}
	return sum;
}

static float
f16DotScalar(const uint16_t *a, const uint16_t *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += vk_f16_to_f32(a[i]) * vk_f16_to_f32(b[i]);
	return sum;
}

static float
f16L1Scalar(const uint16_t *a, const uint16_t *b, int n)
{
	float		sum = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
		sum += fabsf(vk_f16_to_f32(a[i]) - vk_f16_to_f32(b[i]));
	return sum;
}

static void
f16DotNormsScalar(const uint16_t *a, const uint16_t *b, int n,
				  float *dot, float *aa, float *bb)
{
	float		sdot = 0.0f;
	float		saa = 0.0f;
	float		sbb = 0.0f;
	int			i;

	for (i = 0; i < n; i++)
	{
		float		x = vk_f16_to_f32(a[i]);
		float		y = vk_f16_to_f32(b[i]);

		sdot += x * y;
		saa += x * x;
		sbb += y * y;
	}
	*dot = sdot;
	*aa = saa;
	*bb = sbb;
}

static void
f16L2SqBatchScalar(const uint16_t *q, const uint16_t *const *items,
				   int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
		out[i] = f16L2SqScalar(q, items[i], n);
}

static void
f16DotBatchScalar(const uint16_t *q, const uint16_t *const *items,
				  int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
		out[i] = f16DotScalar(q, items[i], n);
}

/*
 * RaBitQ dot product <u, qu> on bit planes (all bits but 2 and 4, which are
 * crumbs and nibbles multiplied by the query's bytes): with u = sum_j 2^j U_j and
 * qu = sum_k 2^k Q_k (bit planes), <u, qu> = sum_j sum_k 2^(j+k)
 * popcount(U_j & Q_k), one 64-coordinate word at a time (padded is a
 * multiple of 64, so there is no tail).
 */
static int32_t
rbqDotNibblesScalar(const uint8_t *qu, const uint8_t *code, int padded)
{
	int32_t		sum = 0;
	int			base,
				t;

	for (base = 0; base < padded; base += 128)
	{
		int			half = (padded - base >= 128) ? 64 : 32;
		const uint8_t *c = code + base / 2;
		const uint8_t *q = qu + base;

		for (t = 0; t < half; t++)
			sum += (int32_t) (c[t] & 15) * q[t] + (int32_t) (c[t] >> 4) * q[half + t];
	}
	return sum;
}

static int32_t
rbqDotCrumbsScalar(const uint8_t *qu, const uint8_t *code, int padded)
{
	int32_t		sum = 0;
	int			base,
				t;

	for (base = 0; base < padded; base += 256)
	{
		int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
		const uint8_t *c = code + base / 4;
		const uint8_t *q = qu + base;

		for (t = 0; t < quarter; t++)
			sum += (int32_t) (c[t] & 3) * q[t] +
				(int32_t) ((c[t] >> 2) & 3) * q[quarter + t] +
				(int32_t) ((c[t] >> 4) & 3) * q[2 * quarter + t] +
				(int32_t) (c[t] >> 6) * q[3 * quarter + t];
	}
	return sum;
}

static int32_t
rbqDotScalar(const uint8_t *query_layout, const uint8_t *code,
			 int padded, int bits)
{
	const uint8_t *qplanes = query_layout + padded;
	int			planeBytes = padded / 8;
	uint64_t	total = 0;
	int			j,
				k,
				i;

	/* 4 bits: nibbles against the query's bytes (rabitq.h) */
	if (bits == 4)
		return rbqDotNibblesScalar(query_layout, code, padded);
	if (bits == 2)
		return rbqDotCrumbsScalar(query_layout, code, padded);

	for (j = 0; j < bits; j++)
	{
		const uint8_t *cp = code + (size_t) j * planeBytes;
		uint64_t	sum = 0;

		for (k = 0; k < 8; k++)
		{
			const uint8_t *qp = qplanes + (size_t) k * planeBytes;
			uint64_t	count = 0;

			for (i = 0; i < planeBytes; i += 8)
				count += popcount64Scalar(load64Scalar(cp + i) & load64Scalar(qp + i));
			sum += count << k;
		}
		total += sum << j;
	}
	return (int32_t) total;
}

static void
rbqDotBatchScalar(const uint8_t *query_layout, const uint8_t *const *codes,
				  int count, int padded, int bits, int32_t *out)
{
	int			i;

	for (i = 0; i < count; i++)
		out[i] = rbqDotScalar(query_layout, codes[i], padded, bits);
}

static void
u32EqMaskScalar(const uint32_t *vals, int nwords, uint32_t v, uint64_t *out)
{
	int			w,
				j;

	for (w = 0; w < nwords; w++)
	{
		const uint32_t *p = vals + 64 * w;
		uint64_t	m = 0;

		for (j = 0; j < 64; j++)
			m |= (uint64_t) (p[j] == v) << j;
		out[w] = m;
	}
}

static void
u32PairHasMaskScalar(const uint32_t *lo, const uint32_t *hi, int nwords,
					 uint32_t mlo, uint32_t mhi, uint64_t *out)
{
	int			w,
				j;

	for (w = 0; w < nwords; w++)
	{
		const uint32_t *l = lo + 64 * w;
		const uint32_t *h = hi + 64 * w;
		uint64_t	m = 0;

		for (j = 0; j < 64; j++)
			m |= (uint64_t) (((l[j] & mlo) == mlo) & ((h[j] & mhi) == mhi)) << j;
		out[w] = m;
	}
}

const VectorKernels vk_scalar_kernels = {
	"scalar",
	VK_LEVEL_SCALAR,
	f32L2SqScalar,
	f32DotScalar,
	f32L1Scalar,
	f32DotNormsScalar,
	f32NormSqScalar,
	f32L2SqBatchScalar,
	f32DotBatchScalar,
	f32DotRowsScalar,
	bitHammingScalar,
	bitAndOrCountScalar,
	f16ToF32Scalar,
	f32ToF16Scalar,
	f16L2SqScalar,
	f16DotScalar,
	f16L1Scalar,
	f16DotNormsScalar,
	f16L2SqBatchScalar,
	f16DotBatchScalar,
	rbqDotScalar,
	rbqDotBatchScalar,
	u32EqMaskScalar,
	u32PairHasMaskScalar
};


/* ----------------------------------------------------------------------
 * CPU detection and dispatch
 * ----------------------------------------------------------------------
 */

/* Start on the scalar table so that a caller that forgot vk_init() is safe. */
const VectorKernels *vk_active = &vk_scalar_kernels;

static int	vkProbed = 0;
static VkLevel vkBestLevel = VK_LEVEL_SCALAR;

#ifdef VK_HAVE_X86

static int	vkHaveVpopcntdq = 0;

/*
 * The AVX-512 table when the CPU lacks VPOPCNTDQ (Skylake-SP, Cascade Lake):
 * the AVX-512 float kernels with the AVX2 bit kernels.  Filled by vkProbe().
 */
static VectorKernels vkAvx512NoPopcntKernels;

/* CPUID bits we test (Intel SDM vol. 2A, CPUID). */
#define VK_CPUID1_ECX_FMA		(1u << 12)
#define VK_CPUID1_ECX_POPCNT	(1u << 23)
#define VK_CPUID1_ECX_OSXSAVE	(1u << 27)
#define VK_CPUID1_ECX_AVX		(1u << 28)
#define VK_CPUID1_ECX_F16C		(1u << 29)
#define VK_CPUID7_EBX_AVX2		(1u << 5)
#define VK_CPUID7_EBX_AVX512F	(1u << 16)
#define VK_CPUID7_EBX_AVX512BW	(1u << 30)
#define VK_CPUID7_EBX_AVX512VL	(1u << 31)
#define VK_CPUID7_ECX_VPOPCNTDQ (1u << 14)

/* XCR0: SSE and YMM-upper state; opmask, ZMM0-15 upper, ZMM16-31 state. */
#define VK_XCR0_YMM				UINT64_C(0x06)
#define VK_XCR0_ZMM				UINT64_C(0xe0)

/*
 * Read XCR0.  Only valid when CPUID reports OSXSAVE, which the caller
 * checks first; otherwise the instruction faults.
 */
static uint64_t
vkXgetbv(uint32_t index)
{
	uint32_t	eax;
	uint32_t	edx;

	__asm__ __volatile__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(index));
	return ((uint64_t) edx << 32) | eax;
}

/*
 * A CPU flag alone is not enough: the OS must also save the wider register
 * state on context switch, or the upper halves get clobbered under us.
 * That is what XCR0 tells.
 */
static void
vkProbeX86(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;
	unsigned int ecx1;
	uint64_t	xcr0;

	if (!__get_cpuid_count(1, 0, &eax, &ebx, &ecx, &edx))
		return;
	ecx1 = ecx;
	if (!(ecx1 & VK_CPUID1_ECX_OSXSAVE) || !(ecx1 & VK_CPUID1_ECX_AVX))
		return;
	xcr0 = vkXgetbv(0);
	if ((xcr0 & VK_XCR0_YMM) != VK_XCR0_YMM)
		return;

	/* __get_cpuid_count fails when leaf 7 is beyond the maximum leaf */
	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
		return;

	/*
	 * kernels_avx2.c is built with -mpopcnt for its bit kernels and -mf16c
	 * for its half kernels; every AVX2 CPU has POPCNT and F16C, but we
	 * check them rather than assume.
	 */
	if (!(ebx & VK_CPUID7_EBX_AVX2) || !(ecx1 & VK_CPUID1_ECX_FMA) ||
		!(ecx1 & VK_CPUID1_ECX_POPCNT) || !(ecx1 & VK_CPUID1_ECX_F16C))
		return;
	vkBestLevel = VK_LEVEL_AVX2;

	/*
	 * kernels_avx512.c is built with -mavx512bw -mavx512vl, so the compiler
	 * may emit BW/VL encodings anywhere in it: require them along with F.
	 * Every AVX-512 CPU since Skylake-SP has all three; only Xeon Phi lacks
	 * them, and it falls back to AVX2.
	 */
	if ((xcr0 & VK_XCR0_ZMM) != VK_XCR0_ZMM)
		return;
	if (!(ebx & VK_CPUID7_EBX_AVX512F) || !(ebx & VK_CPUID7_EBX_AVX512BW) ||
		!(ebx & VK_CPUID7_EBX_AVX512VL))
		return;
	vkBestLevel = VK_LEVEL_AVX512;
	vkHaveVpopcntdq = (ecx & VK_CPUID7_ECX_VPOPCNTDQ) != 0;
}
#endif							/* VK_HAVE_X86 */

/*
 * Probe once; the answer cannot change while the process lives.  Backends
 * are single-threaded, and a concurrent first call would only compute the
 * same values twice.
 */
static void
vkProbe(void)
{
	if (vkProbed)
		return;

#ifdef VK_HAVE_X86
	vkProbeX86();
	vkAvx512NoPopcntKernels = vk_avx512_kernels;
	vkAvx512NoPopcntKernels.bit_hamming = vk_avx2_kernels.bit_hamming;
	vkAvx512NoPopcntKernels.bit_and_or_count = vk_avx2_kernels.bit_and_or_count;
#endif

#ifdef VK_HAVE_NEON

	/*
	 * Advanced SIMD is mandatory in AArch64 (every core and OS has it, and
	 * kernels_neon.c uses nothing beyond the base architecture), so there
	 * is nothing to ask the CPU or getauxval(AT_HWCAP).
	 */
	vkBestLevel = VK_LEVEL_NEON;
#endif

	vkProbed = 1;
}

VkLevel
vk_detect(void)
{
	vkProbe();
	return vkBestLevel;
}

const VectorKernels *
vk_table(VkLevel level)
{
	vkProbe();

	switch (level)
	{
		case VK_LEVEL_SCALAR:
			return &vk_scalar_kernels;
#ifdef VK_HAVE_X86
		case VK_LEVEL_AVX2:
			if (vkBestLevel >= VK_LEVEL_AVX2)
				return &vk_avx2_kernels;
			return NULL;
		case VK_LEVEL_AVX512:
			if (vkBestLevel < VK_LEVEL_AVX512)
				return NULL;
			if (vkHaveVpopcntdq)
				return &vk_avx512_kernels;
			return &vkAvx512NoPopcntKernels;
#endif
#ifdef VK_HAVE_NEON
		case VK_LEVEL_NEON:
			return &vk_neon_kernels;
#endif
		default:
			/* an ISA of another architecture than this build's */
			return NULL;
	}
}

void
vk_init(void)
{
	vk_active = vk_table(vk_detect());
}

int
vk_set_level(VkLevel level)
{
	const VectorKernels *table = vk_table(level);

	if (table == NULL)
		return 0;
	vk_active = table;
	return 1;
}

/*
 * Cosine distance 1 - a.b / (|a| |b|) from one f32_dot_norms pass.  The
 * ratio is formed in double so that the float sums are the only rounding
 * that matters, and clamped because rounding can push it past +-1.  A zero
 * vector gives NaN (0/0), as in pgvector.
 */
double
vk_cosine_distance(const float *a, const float *b, int n)
{
	float		dot;
	float		aa;
	float		bb;
	double		similarity;

	vk_active->f32_dot_norms(a, b, n, &dot, &aa, &bb);
	similarity = (double) dot / sqrt((double) aa * (double) bb);
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	return 1.0 - similarity;
}
