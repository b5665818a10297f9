/*
 * kernels_neon.c
 *	  AArch64 Advanced SIMD (NEON) distance kernels (vk_neon_kernels).
 *
 * NEON is part of the AArch64 base architecture, so this file needs no
 * compiler flag and vk_detect() needs no probe: every AArch64 build selects
 * this table.  On any other architecture the file compiles to nothing.
 *
 * Float loops keep eight independent accumulators of four lanes (32 floats
 * a step): FMLA has a latency of about four cycles and current cores issue
 * two to four a cycle, so fewer chains would leave the units idle.  NEON has
 * no masked load, and a load past the end may fault (the kernel test ends
 * inputs at a PROT_NONE page), so the last n % 4 elements (n % 8 for
 * halves, n % 16 for bytes) are copied into a zeroed local vector first;
 * zero lanes add nothing to any of the sums.
 *
 * Halves are widened to float with FCVTL/FCVTL2 (vcvt_f32_f16, exact, part
 * of the base architecture) and summed in float, like the scalar and x86
 * kernels.  Arithmetic in half precision (FEAT_FP16) would be faster but
 * would round every difference and product to 11 bits, so it is not used.
 * float -> half goes through FCVTN, which rounds by FPCR: to nearest even,
 * the mode every process starts in.
 *
 * Bit kernels count with CNT on 16 bytes at a time and widen the byte
 * counts with pairwise adds (UADDLP/UADALP) into 32-bit lanes.
 *
 * No SVE table (yet): on the SVE server cores of today the SVE units do no
 * more arithmetic per cycle than their NEON pipes (Neoverse V1, Graviton3:
 * 2 x 256 bits against 4 x 128; Neoverse V2 and N2: 128-bit SVE vectors),
 * so SVE would be a second code path, detected through getauxval(AT_HWCAP)
 * & HWCAP_SVE, for a gain nobody has measured.  Only 512-bit parts (A64FX)
 * would clearly win.
 *
 * src/kernels/kernels_neon.c
 */
#include "kernels.h"

/* AArch64 only: elsewhere this file compiles to nothing (kernels.h) */
#ifdef VK_HAVE_NEON

#include <arm_neon.h>
#include <string.h>

/* The first k floats at p, 0 < k < 4, and zeros; reads only those k. */
static inline float32x4_t
loadTailNeon(const float *p, int k)
{
	float		buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};

	memcpy(buf, p, sizeof(float) * k);
	return vld1q_f32(buf);
}

static inline float32x4_t
l2StepNeon(float32x4_t s, float32x4_t x, float32x4_t y)
{
	float32x4_t d = vsubq_f32(x, y);

	return vfmaq_f32(s, d, d);
}

/* FABD: |x - y| with one rounding, the same value as fabsf(x - y) */
static inline float32x4_t
l1StepNeon(float32x4_t s, float32x4_t x, float32x4_t y)
{
	return vaddq_f32(s, vabdq_f32(x, y));
}

static inline float
sum8Neon(float32x4_t s0, float32x4_t s1, float32x4_t s2, float32x4_t s3,
		 float32x4_t s4, float32x4_t s5, float32x4_t s6, float32x4_t s7)
{
	s0 = vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3));
	s4 = vaddq_f32(vaddq_f32(s4, s5), vaddq_f32(s6, s7));
	return vaddvq_f32(vaddq_f32(s0, s4));
}

static float
f32L2SqNeon(const float *a, const float *b, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = l2StepNeon(s0, vld1q_f32(a + i), vld1q_f32(b + i));
		s1 = l2StepNeon(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		s2 = l2StepNeon(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		s3 = l2StepNeon(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
		s4 = l2StepNeon(s4, vld1q_f32(a + i + 16), vld1q_f32(b + i + 16));
		s5 = l2StepNeon(s5, vld1q_f32(a + i + 20), vld1q_f32(b + i + 20));
		s6 = l2StepNeon(s6, vld1q_f32(a + i + 24), vld1q_f32(b + i + 24));
		s7 = l2StepNeon(s7, vld1q_f32(a + i + 28), vld1q_f32(b + i + 28));
	}
	for (; i + 4 <= n; i += 4)
		s0 = l2StepNeon(s0, vld1q_f32(a + i), vld1q_f32(b + i));
	if (i < n)
		s1 = l2StepNeon(s1, loadTailNeon(a + i, n - i), loadTailNeon(b + i, n - i));
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

static float
f32DotNeon(const float *a, const float *b, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
		s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
		s4 = vfmaq_f32(s4, vld1q_f32(a + i + 16), vld1q_f32(b + i + 16));
		s5 = vfmaq_f32(s5, vld1q_f32(a + i + 20), vld1q_f32(b + i + 20));
		s6 = vfmaq_f32(s6, vld1q_f32(a + i + 24), vld1q_f32(b + i + 24));
		s7 = vfmaq_f32(s7, vld1q_f32(a + i + 28), vld1q_f32(b + i + 28));
	}
	for (; i + 4 <= n; i += 4)
		s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
	if (i < n)
		s1 = vfmaq_f32(s1, loadTailNeon(a + i, n - i), loadTailNeon(b + i, n - i));
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

static float
f32L1Neon(const float *a, const float *b, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = l1StepNeon(s0, vld1q_f32(a + i), vld1q_f32(b + i));
		s1 = l1StepNeon(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		s2 = l1StepNeon(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		s3 = l1StepNeon(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
		s4 = l1StepNeon(s4, vld1q_f32(a + i + 16), vld1q_f32(b + i + 16));
		s5 = l1StepNeon(s5, vld1q_f32(a + i + 20), vld1q_f32(b + i + 20));
		s6 = l1StepNeon(s6, vld1q_f32(a + i + 24), vld1q_f32(b + i + 24));
		s7 = l1StepNeon(s7, vld1q_f32(a + i + 28), vld1q_f32(b + i + 28));
	}
	for (; i + 4 <= n; i += 4)
		s0 = l1StepNeon(s0, vld1q_f32(a + i), vld1q_f32(b + i));
	if (i < n)
		s1 = l1StepNeon(s1, loadTailNeon(a + i, n - i), loadTailNeon(b + i, n - i));
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

/*
 * Three sums, four chains each (16 floats a step): twelve accumulators and
 * the operands use about half of the 32 vector registers.
 */
static void
f32DotNormsNeon(const float *a, const float *b, int n,
				float *dot, float *aa, float *bb)
{
	float32x4_t d0 = vdupq_n_f32(0.0f),
				d1 = d0,
				d2 = d0,
				d3 = d0;
	float32x4_t x0 = d0,
				x1 = d0,
				x2 = d0,
				x3 = d0;
	float32x4_t y0 = d0,
				y1 = d0,
				y2 = d0,
				y3 = d0;
	float32x4_t va,
				vb;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		va = vld1q_f32(a + i);
		vb = vld1q_f32(b + i);
		d0 = vfmaq_f32(d0, va, vb);
		x0 = vfmaq_f32(x0, va, va);
		y0 = vfmaq_f32(y0, vb, vb);
		va = vld1q_f32(a + i + 4);
		vb = vld1q_f32(b + i + 4);
		d1 = vfmaq_f32(d1, va, vb);
		x1 = vfmaq_f32(x1, va, va);
		y1 = vfmaq_f32(y1, vb, vb);
		va = vld1q_f32(a + i + 8);
		vb = vld1q_f32(b + i + 8);
		d2 = vfmaq_f32(d2, va, vb);
		x2 = vfmaq_f32(x2, va, va);
		y2 = vfmaq_f32(y2, vb, vb);
		va = vld1q_f32(a + i + 12);
		vb = vld1q_f32(b + i + 12);
		d3 = vfmaq_f32(d3, va, vb);
		x3 = vfmaq_f32(x3, va, va);
		y3 = vfmaq_f32(y3, vb, vb);
	}
	for (; i + 4 <= n; i += 4)
	{
		va = vld1q_f32(a + i);
		vb = vld1q_f32(b + i);
		d0 = vfmaq_f32(d0, va, vb);
		x0 = vfmaq_f32(x0, va, va);
		y0 = vfmaq_f32(y0, vb, vb);
	}
	if (i < n)
	{
		va = loadTailNeon(a + i, n - i);
		vb = loadTailNeon(b + i, n - i);
		d1 = vfmaq_f32(d1, va, vb);
		x1 = vfmaq_f32(x1, va, va);
		y1 = vfmaq_f32(y1, vb, vb);
	}
	*dot = vaddvq_f32(vaddq_f32(vaddq_f32(d0, d1), vaddq_f32(d2, d3)));
	*aa = vaddvq_f32(vaddq_f32(vaddq_f32(x0, x1), vaddq_f32(x2, x3)));
	*bb = vaddvq_f32(vaddq_f32(vaddq_f32(y0, y1), vaddq_f32(y2, y3)));
}

static float
f32NormSqNeon(const float *a, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	float32x4_t v;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		v = vld1q_f32(a + i);
		s0 = vfmaq_f32(s0, v, v);
		v = vld1q_f32(a + i + 4);
		s1 = vfmaq_f32(s1, v, v);
		v = vld1q_f32(a + i + 8);
		s2 = vfmaq_f32(s2, v, v);
		v = vld1q_f32(a + i + 12);
		s3 = vfmaq_f32(s3, v, v);
		v = vld1q_f32(a + i + 16);
		s4 = vfmaq_f32(s4, v, v);
		v = vld1q_f32(a + i + 20);
		s5 = vfmaq_f32(s5, v, v);
		v = vld1q_f32(a + i + 24);
		s6 = vfmaq_f32(s6, v, v);
		v = vld1q_f32(a + i + 28);
		s7 = vfmaq_f32(s7, v, v);
	}
	for (; i + 4 <= n; i += 4)
	{
		v = vld1q_f32(a + i);
		s0 = vfmaq_f32(s0, v, v);
	}
	if (i < n)
	{
		v = loadTailNeon(a + i, n - i);
		s1 = vfmaq_f32(s1, v, v);
	}
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

/*
 * Items of a batch sit at unrelated addresses (graph neighbours, list
 * entries): touching the next item's first cache lines (PRFM) overlaps its
 * miss with the current distance, as the x86 kernels do.
 */
static inline void
prefetchItemNeon(const void *item, int bytes)
{
	const char *p = (const char *) item;
	int			off;

	for (off = 0; off < bytes && off < 256; off += 64)
		__builtin_prefetch(p + off, 0, 3);
}

/*
 * Four rows per pass, two chains per row (8 floats a step): each query
 * chunk is loaded once for four rows.
 */
static void
f32DotRowsNeon(const float *q, const float *rows, size_t stride,
			   int count, int n, float *out)
{
	int			r = 0;

	for (; r + 4 <= count; r += 4)
	{
		const float *r0 = rows + (size_t) r * stride;
		const float *r1 = r0 + stride;
		const float *r2 = r1 + stride;
		const float *r3 = r2 + stride;
		float32x4_t s0 = vdupq_n_f32(0.0f),
					s1 = s0,
					s2 = s0,
					s3 = s0,
					t0 = s0,
					t1 = s0,
					t2 = s0,
					t3 = s0;
		float32x4_t qv;
		int			i = 0;

		for (; i + 8 <= n; i += 8)
		{
			qv = vld1q_f32(q + i);
			s0 = vfmaq_f32(s0, qv, vld1q_f32(r0 + i));
			s1 = vfmaq_f32(s1, qv, vld1q_f32(r1 + i));
			s2 = vfmaq_f32(s2, qv, vld1q_f32(r2 + i));
			s3 = vfmaq_f32(s3, qv, vld1q_f32(r3 + i));
			qv = vld1q_f32(q + i + 4);
			t0 = vfmaq_f32(t0, qv, vld1q_f32(r0 + i + 4));
			t1 = vfmaq_f32(t1, qv, vld1q_f32(r1 + i + 4));
			t2 = vfmaq_f32(t2, qv, vld1q_f32(r2 + i + 4));
			t3 = vfmaq_f32(t3, qv, vld1q_f32(r3 + i + 4));
		}
		if (i + 4 <= n)
		{
			qv = vld1q_f32(q + i);
			s0 = vfmaq_f32(s0, qv, vld1q_f32(r0 + i));
			s1 = vfmaq_f32(s1, qv, vld1q_f32(r1 + i));
			s2 = vfmaq_f32(s2, qv, vld1q_f32(r2 + i));
			s3 = vfmaq_f32(s3, qv, vld1q_f32(r3 + i));
			i += 4;
		}
		if (i < n)
		{
			int			k = n - i;

			qv = loadTailNeon(q + i, k);
			t0 = vfmaq_f32(t0, qv, loadTailNeon(r0 + i, k));
			t1 = vfmaq_f32(t1, qv, loadTailNeon(r1 + i, k));
			t2 = vfmaq_f32(t2, qv, loadTailNeon(r2 + i, k));
			t3 = vfmaq_f32(t3, qv, loadTailNeon(r3 + i, k));
		}
		out[r] = vaddvq_f32(vaddq_f32(s0, t0));
		out[r + 1] = vaddvq_f32(vaddq_f32(s1, t1));
		out[r + 2] = vaddvq_f32(vaddq_f32(s2, t2));
		out[r + 3] = vaddvq_f32(vaddq_f32(s3, t3));
	}
	for (; r < count; r++)
		out[r] = f32DotNeon(q, rows + (size_t) r * stride, n);
}

/* One single-kernel call per item keeps batch and single results identical. */
static void
f32L2SqBatchNeon(const float *q, const float *const *items,
				 int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemNeon(items[i + 1], n * (int) sizeof(float));
		out[i] = f32L2SqNeon(q, items[i], n);
	}
}

static void
f32DotBatchNeon(const float *q, const float *const *items,
				int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemNeon(items[i + 1], n * (int) sizeof(float));
		out[i] = f32DotNeon(q, items[i], n);
	}
}

/* ------------------------------------------------------------------ bits */

/* The first k bytes at p, 0 < k < 16, and zeros; reads only those k. */
static inline uint8x16_t
loadBytesTailNeon(const uint8_t *p, int k)
{
	uint8_t		buf[16] = {0};

	memcpy(buf, p, k);
	return vld1q_u8(buf);
}

/*
 * Widen per-byte counts into four 32-bit lanes: UADDLP to 16 bits, UADALP
 * into the accumulator.  A 32-bit lane sums a quarter of the bits, and
 * nbytes < 2^31 keeps that below 2^32.
 */
static inline uint32x4_t
addCountsNeon(uint32x4_t acc, uint8x16_t counts)
{
	return vpadalq_u16(acc, vpaddlq_u8(counts));
}

static uint64_t
bitHammingNeon(const uint8_t *a, const uint8_t *b, int nbytes)
{
	uint32x4_t	acc0 = vdupq_n_u32(0),
				acc1 = acc0;
	uint8x16_t	c0,
				c1,
				c2,
				c3;
	int			i = 0;

	for (; i + 64 <= nbytes; i += 64)
	{
		c0 = vcntq_u8(veorq_u8(vld1q_u8(a + i), vld1q_u8(b + i)));
		c1 = vcntq_u8(veorq_u8(vld1q_u8(a + i + 16), vld1q_u8(b + i + 16)));
		c2 = vcntq_u8(veorq_u8(vld1q_u8(a + i + 32), vld1q_u8(b + i + 32)));
		c3 = vcntq_u8(veorq_u8(vld1q_u8(a + i + 48), vld1q_u8(b + i + 48)));
		/* at most 16 per byte lane after each add: no 8-bit overflow */
		acc0 = addCountsNeon(acc0, vaddq_u8(c0, c1));
		acc1 = addCountsNeon(acc1, vaddq_u8(c2, c3));
	}
	for (; i + 16 <= nbytes; i += 16)
		acc0 = addCountsNeon(acc0, vcntq_u8(veorq_u8(vld1q_u8(a + i), vld1q_u8(b + i))));
	if (i < nbytes)
		acc1 = addCountsNeon(acc1,
							 vcntq_u8(veorq_u8(loadBytesTailNeon(a + i, nbytes - i),
											   loadBytesTailNeon(b + i, nbytes - i))));
	return vaddlvq_u32(acc0) + vaddlvq_u32(acc1);
}

static void
bitAndOrCountNeon(const uint8_t *a, const uint8_t *b, int nbytes,
				  uint64_t *inter, uint64_t *uni)
{
	uint32x4_t	accI = vdupq_n_u32(0),
				accU = accI;
	uint8x16_t	va0,
				vb0,
				va1,
				vb1;
	int			i = 0;

	for (; i + 32 <= nbytes; i += 32)
	{
		va0 = vld1q_u8(a + i);
		vb0 = vld1q_u8(b + i);
		va1 = vld1q_u8(a + i + 16);
		vb1 = vld1q_u8(b + i + 16);
		accI = addCountsNeon(accI, vaddq_u8(vcntq_u8(vandq_u8(va0, vb0)),
											vcntq_u8(vandq_u8(va1, vb1))));
		accU = addCountsNeon(accU, vaddq_u8(vcntq_u8(vorrq_u8(va0, vb0)),
											vcntq_u8(vorrq_u8(va1, vb1))));
	}
	if (i + 16 <= nbytes)
	{
		va0 = vld1q_u8(a + i);
		vb0 = vld1q_u8(b + i);
		accI = addCountsNeon(accI, vcntq_u8(vandq_u8(va0, vb0)));
		accU = addCountsNeon(accU, vcntq_u8(vorrq_u8(va0, vb0)));
		i += 16;
	}
	if (i < nbytes)
	{
		va0 = loadBytesTailNeon(a + i, nbytes - i);
		vb0 = loadBytesTailNeon(b + i, nbytes - i);
		accI = addCountsNeon(accI, vcntq_u8(vandq_u8(va0, vb0)));
		accU = addCountsNeon(accU, vcntq_u8(vorrq_u8(va0, vb0)));
	}
	*inter = vaddlvq_u32(accI);
	*uni = vaddlvq_u32(accU);
}

/* ---------------------------------------------------------------- halves */

/* Eight halves, as two vectors of four floats (exact). */
static inline void
loadHalvesNeon(const uint16_t *p, float32x4_t *lo, float32x4_t *hi)
{
	float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));

	*lo = vcvt_f32_f16(vget_low_f16(h));
	*hi = vcvt_high_f32_f16(h);
}

/* The first k halves at p, 0 < k < 8, then zeros; reads only those k. */
static inline void
loadHalvesTailNeon(const uint16_t *p, int k, float32x4_t *lo, float32x4_t *hi)
{
	uint16_t	buf[8] = {0};

	memcpy(buf, p, sizeof(uint16_t) * k);
	loadHalvesNeon(buf, lo, hi);
}

static void
f16ToF32Neon(const uint16_t *in, float *out, int n)
{
	float32x4_t lo,
				hi;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		loadHalvesNeon(in + i, &lo, &hi);
		vst1q_f32(out + i, lo);
		vst1q_f32(out + i + 4, hi);
	}
	if (i < n)
	{
		float		buf[8];

		loadHalvesTailNeon(in + i, n - i, &lo, &hi);
		vst1q_f32(buf, lo);
		vst1q_f32(buf + 4, hi);
		memcpy(out + i, buf, sizeof(float) * (n - i));
	}
}

static inline uint16x8_t
narrowHalvesNeon(float32x4_t lo, float32x4_t hi)
{
	return vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi));
}

static void
f32ToF16Neon(const float *in, uint16_t *out, int n)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		vst1q_u16(out + i, narrowHalvesNeon(vld1q_f32(in + i), vld1q_f32(in + i + 4)));
	if (i < n)
	{
		float		fbuf[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
		uint16_t	hbuf[8];

		memcpy(fbuf, in + i, sizeof(float) * (n - i));
		vst1q_u16(hbuf, narrowHalvesNeon(vld1q_f32(fbuf), vld1q_f32(fbuf + 4)));
		memcpy(out + i, hbuf, sizeof(uint16_t) * (n - i));
	}
}

/*
 * The half distances: the float loops above on widened halves, with eight
 * accumulators over 32 halves a step.
 */
static float
f16L2SqNeon(const uint16_t *a, const uint16_t *b, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	float32x4_t al,
				ah,
				bl,
				bh;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		s0 = l2StepNeon(s0, al, bl);
		s1 = l2StepNeon(s1, ah, bh);
		loadHalvesNeon(a + i + 8, &al, &ah);
		loadHalvesNeon(b + i + 8, &bl, &bh);
		s2 = l2StepNeon(s2, al, bl);
		s3 = l2StepNeon(s3, ah, bh);
		loadHalvesNeon(a + i + 16, &al, &ah);
		loadHalvesNeon(b + i + 16, &bl, &bh);
		s4 = l2StepNeon(s4, al, bl);
		s5 = l2StepNeon(s5, ah, bh);
		loadHalvesNeon(a + i + 24, &al, &ah);
		loadHalvesNeon(b + i + 24, &bl, &bh);
		s6 = l2StepNeon(s6, al, bl);
		s7 = l2StepNeon(s7, ah, bh);
	}
	for (; i + 8 <= n; i += 8)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		s0 = l2StepNeon(s0, al, bl);
		s1 = l2StepNeon(s1, ah, bh);
	}
	if (i < n)
	{
		loadHalvesTailNeon(a + i, n - i, &al, &ah);
		loadHalvesTailNeon(b + i, n - i, &bl, &bh);
		s2 = l2StepNeon(s2, al, bl);
		s3 = l2StepNeon(s3, ah, bh);
	}
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

static float
f16DotNeon(const uint16_t *a, const uint16_t *b, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	float32x4_t al,
				ah,
				bl,
				bh;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		s0 = vfmaq_f32(s0, al, bl);
		s1 = vfmaq_f32(s1, ah, bh);
		loadHalvesNeon(a + i + 8, &al, &ah);
		loadHalvesNeon(b + i + 8, &bl, &bh);
		s2 = vfmaq_f32(s2, al, bl);
		s3 = vfmaq_f32(s3, ah, bh);
		loadHalvesNeon(a + i + 16, &al, &ah);
		loadHalvesNeon(b + i + 16, &bl, &bh);
		s4 = vfmaq_f32(s4, al, bl);
		s5 = vfmaq_f32(s5, ah, bh);
		loadHalvesNeon(a + i + 24, &al, &ah);
		loadHalvesNeon(b + i + 24, &bl, &bh);
		s6 = vfmaq_f32(s6, al, bl);
		s7 = vfmaq_f32(s7, ah, bh);
	}
	for (; i + 8 <= n; i += 8)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		s0 = vfmaq_f32(s0, al, bl);
		s1 = vfmaq_f32(s1, ah, bh);
	}
	if (i < n)
	{
		loadHalvesTailNeon(a + i, n - i, &al, &ah);
		loadHalvesTailNeon(b + i, n - i, &bl, &bh);
		s2 = vfmaq_f32(s2, al, bl);
		s3 = vfmaq_f32(s3, ah, bh);
	}
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

static float
f16L1Neon(const uint16_t *a, const uint16_t *b, int n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f),
				s1 = s0,
				s2 = s0,
				s3 = s0,
				s4 = s0,
				s5 = s0,
				s6 = s0,
				s7 = s0;
	float32x4_t al,
				ah,
				bl,
				bh;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		s0 = l1StepNeon(s0, al, bl);
		s1 = l1StepNeon(s1, ah, bh);
		loadHalvesNeon(a + i + 8, &al, &ah);
		loadHalvesNeon(b + i + 8, &bl, &bh);
		s2 = l1StepNeon(s2, al, bl);
		s3 = l1StepNeon(s3, ah, bh);
		loadHalvesNeon(a + i + 16, &al, &ah);
		loadHalvesNeon(b + i + 16, &bl, &bh);
		s4 = l1StepNeon(s4, al, bl);
		s5 = l1StepNeon(s5, ah, bh);
		loadHalvesNeon(a + i + 24, &al, &ah);
		loadHalvesNeon(b + i + 24, &bl, &bh);
		s6 = l1StepNeon(s6, al, bl);
		s7 = l1StepNeon(s7, ah, bh);
	}
	for (; i + 8 <= n; i += 8)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		s0 = l1StepNeon(s0, al, bl);
		s1 = l1StepNeon(s1, ah, bh);
	}
	if (i < n)
	{
		loadHalvesTailNeon(a + i, n - i, &al, &ah);
		loadHalvesTailNeon(b + i, n - i, &bl, &bh);
		s2 = l1StepNeon(s2, al, bl);
		s3 = l1StepNeon(s3, ah, bh);
	}
	return sum8Neon(s0, s1, s2, s3, s4, s5, s6, s7);
}

/* Three sums, four chains each, 16 halves a step. */
static void
f16DotNormsNeon(const uint16_t *a, const uint16_t *b, int n,
				float *dot, float *aa, float *bb)
{
	float32x4_t d0 = vdupq_n_f32(0.0f),
				d1 = d0,
				d2 = d0,
				d3 = d0;
	float32x4_t x0 = d0,
				x1 = d0,
				x2 = d0,
				x3 = d0;
	float32x4_t y0 = d0,
				y1 = d0,
				y2 = d0,
				y3 = d0;
	float32x4_t al,
				ah,
				bl,
				bh;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		d0 = vfmaq_f32(d0, al, bl);
		x0 = vfmaq_f32(x0, al, al);
		y0 = vfmaq_f32(y0, bl, bl);
		d1 = vfmaq_f32(d1, ah, bh);
		x1 = vfmaq_f32(x1, ah, ah);
		y1 = vfmaq_f32(y1, bh, bh);
		loadHalvesNeon(a + i + 8, &al, &ah);
		loadHalvesNeon(b + i + 8, &bl, &bh);
		d2 = vfmaq_f32(d2, al, bl);
		x2 = vfmaq_f32(x2, al, al);
		y2 = vfmaq_f32(y2, bl, bl);
		d3 = vfmaq_f32(d3, ah, bh);
		x3 = vfmaq_f32(x3, ah, ah);
		y3 = vfmaq_f32(y3, bh, bh);
	}
	if (i + 8 <= n)
	{
		loadHalvesNeon(a + i, &al, &ah);
		loadHalvesNeon(b + i, &bl, &bh);
		d0 = vfmaq_f32(d0, al, bl);
		x0 = vfmaq_f32(x0, al, al);
		y0 = vfmaq_f32(y0, bl, bl);
		d1 = vfmaq_f32(d1, ah, bh);
		x1 = vfmaq_f32(x1, ah, ah);
		y1 = vfmaq_f32(y1, bh, bh);
		i += 8;
	}
	if (i < n)
	{
		loadHalvesTailNeon(a + i, n - i, &al, &ah);
		loadHalvesTailNeon(b + i, n - i, &bl, &bh);
		d2 = vfmaq_f32(d2, al, bl);
		x2 = vfmaq_f32(x2, al, al);
		y2 = vfmaq_f32(y2, bl, bl);
		d3 = vfmaq_f32(d3, ah, bh);
		x3 = vfmaq_f32(x3, ah, ah);
		y3 = vfmaq_f32(y3, bh, bh);
	}
	*dot = vaddvq_f32(vaddq_f32(vaddq_f32(d0, d1), vaddq_f32(d2, d3)));
	*aa = vaddvq_f32(vaddq_f32(vaddq_f32(x0, x1), vaddq_f32(x2, x3)));
	*bb = vaddvq_f32(vaddq_f32(vaddq_f32(y0, y1), vaddq_f32(y2, y3)));
}

static void
f16L2SqBatchNeon(const uint16_t *q, const uint16_t *const *items,
				 int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemNeon(items[i + 1], n * (int) sizeof(uint16_t));
		out[i] = f16L2SqNeon(q, items[i], n);
	}
}

static void
f16DotBatchNeon(const uint16_t *q, const uint16_t *const *items,
				int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemNeon(items[i + 1], n * (int) sizeof(uint16_t));
		out[i] = f16DotNeon(q, items[i], n);
	}
}

/* ---------------------------------------------------------------- rabitq */

/* 16 bytes of a bit plane at p, or its last 8 (planes are whole words) */
static inline uint8x16_t
loadPlaneNeon(const uint8_t *p, int left)
{
	if (left >= 16)
		return vld1q_u8(p);
	return vcombine_u8(vld1_u8(p), vdup_n_u8(0));
}

#define RBQ_STEP_NEON(acc, k) \
	acc = vpadalq_u8(acc, vcntq_u8(vandq_u8(c, \
		loadPlaneNeon(qp + (size_t) (k) * planeBytes + i, planeBytes - i))))

/*
 * RaBitQ <u, qu> = sum_j sum_k 2^(j+k) popcount(U_j & Q_k) over the code's
 * planes U_j and the query's planes Q_k, 128 coordinates a step: CNT per
 * byte, then UADALP into eight 16-bit accumulators, one per query plane.  A
 * 16-bit lane gains at most 16 a step and a plane has at most 128 steps
 * (16,384 coordinates), so it stays below 2^16.
 */
/*
 * 4-bit codes are nibbles (rabitq.h): per 16 code bytes, the low halves
 * against 16 query bytes and the high halves against those 64 (or, in a
 * last block of 64, 32) coordinates on; UMULL/UMULL2 give 16-bit products
 * (at most 255 * 15) and UADALP adds their pairs into 32-bit lanes.
 */
static int32_t
rbqDotNibblesNeon(const uint8_t *qu, const uint8_t *code, int padded)
{
	const uint8x16_t low = vdupq_n_u8(15);
	uint32x4_t	acc0 = vdupq_n_u32(0),
				acc1 = acc0;
	int			base,
				h;

	for (base = 0; base < padded; base += 128)
	{
		int			half = (padded - base >= 128) ? 64 : 32;
		const uint8_t *c = code + base / 2;
		const uint8_t *q = qu + base;

		for (h = 0; h < half; h += 16)
		{
			uint8x16_t	b = vld1q_u8(c + h);
			uint8x16_t	lo = vandq_u8(b, low);
			uint8x16_t	hi = vshrq_n_u8(b, 4);
			uint8x16_t	q0 = vld1q_u8(q + h);
			uint8x16_t	q1 = vld1q_u8(q + half + h);

			acc0 = vpadalq_u16(acc0, vmull_u8(vget_low_u8(lo), vget_low_u8(q0)));
			acc1 = vpadalq_u16(acc1, vmull_high_u8(lo, q0));
			acc0 = vpadalq_u16(acc0, vmull_u8(vget_low_u8(hi), vget_low_u8(q1)));
			acc1 = vpadalq_u16(acc1, vmull_high_u8(hi, q1));
		}
	}
	return (int32_t) vaddvq_u32(vaddq_u32(acc0, acc1));
}

/* one 2-bit field of 16 code bytes against 16 query bytes, into acc0/acc1 */
#define RBQ_CRUMB_NEON(lvl, qp) \
	do { \
		uint8x16_t	qv_ = vld1q_u8(qp); \
		acc0 = vpadalq_u16(acc0, vmull_u8(vget_low_u8(lvl), vget_low_u8(qv_))); \
		acc1 = vpadalq_u16(acc1, vmull_high_u8(lvl, qv_)); \
	} while (0)

/*
 * 2-bit codes are crumbs (rabitq.h): per 16 code bytes, each 2-bit field
 * against its run of query bytes, a quarter of the block apart, with
 * UMULL/UMULL2 and UADALP as for nibbles.  Quarters are 16 to 64 bytes.
 */
static int32_t
rbqDotCrumbsNeon(const uint8_t *qu, const uint8_t *code, int padded)
{
	const uint8x16_t three = vdupq_n_u8(3);
	uint32x4_t	acc0 = vdupq_n_u32(0),
				acc1 = acc0;
	int			base,
				t;

	for (base = 0; base < padded; base += 256)
	{
		int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
		const uint8_t *c = code + base / 4;
		const uint8_t *q = qu + base;

		for (t = 0; t < quarter; t += 16)
		{
			uint8x16_t	b = vld1q_u8(c + t);

			RBQ_CRUMB_NEON(vandq_u8(b, three), q + t);
			RBQ_CRUMB_NEON(vandq_u8(vshrq_n_u8(b, 2), three), q + quarter + t);
			RBQ_CRUMB_NEON(vandq_u8(vshrq_n_u8(b, 4), three), q + 2 * quarter + t);
			RBQ_CRUMB_NEON(vshrq_n_u8(b, 6), q + 3 * quarter + t);
		}
	}
	return (int32_t) vaddvq_u32(vaddq_u32(acc0, acc1));
}

static int32_t
rbqDotNeon(const uint8_t *query_layout, const uint8_t *code,
		   int padded, int bits)
{
	const uint8_t *qp = query_layout + padded;
	int			planeBytes = padded / 8;
	uint64_t	total = 0;
	int			j,
				i;

	if (bits == 4)
		return rbqDotNibblesNeon(query_layout, code, padded);
	if (bits == 2)
		return rbqDotCrumbsNeon(query_layout, code, padded);

	for (j = 0; j < bits; j++)
	{
		const uint8_t *cp = code + (size_t) j * planeBytes;
		uint16x8_t	a0 = vdupq_n_u16(0);
		uint16x8_t	a1 = a0,
					a2 = a0,
					a3 = a0,
					a4 = a0,
					a5 = a0,
					a6 = a0,
					a7 = a0;
		uint64_t	sum;

		for (i = 0; i < planeBytes; i += 16)
		{
			uint8x16_t	c = loadPlaneNeon(cp + i, planeBytes - i);

			RBQ_STEP_NEON(a0, 0);
			RBQ_STEP_NEON(a1, 1);
			RBQ_STEP_NEON(a2, 2);
			RBQ_STEP_NEON(a3, 3);
			RBQ_STEP_NEON(a4, 4);
			RBQ_STEP_NEON(a5, 5);
			RBQ_STEP_NEON(a6, 6);
			RBQ_STEP_NEON(a7, 7);
		}
		sum = (uint64_t) vaddlvq_u16(a0) +
			((uint64_t) vaddlvq_u16(a1) << 1) +
			((uint64_t) vaddlvq_u16(a2) << 2) +
			((uint64_t) vaddlvq_u16(a3) << 3) +
			((uint64_t) vaddlvq_u16(a4) << 4) +
			((uint64_t) vaddlvq_u16(a5) << 5) +
			((uint64_t) vaddlvq_u16(a6) << 6) +
			((uint64_t) vaddlvq_u16(a7) << 7);
		total += sum << j;
	}
	return (int32_t) total;
}

static void
rbqDotBatchNeon(const uint8_t *query_layout, const uint8_t *const *codes,
				int count, int padded, int bits, int32_t *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemNeon(codes[i + 1], bits * padded / 8);
		out[i] = rbqDotNeon(query_layout, codes[i], padded, bits);
	}
}

/*
 * Four lanes at a time: each lane's all-ones compare result keeps its own
 * bit of {1, 2, 4, 8}, and the across-vector add gathers the four bits.
 */
static void
u32EqMaskNeon(const uint32_t *vals, int nwords, uint32_t v, uint64_t *out)
{
	static const uint32_t bits[4] = {1, 2, 4, 8};
	uint32x4_t	weights = vld1q_u32(bits);
	uint32x4_t	key = vdupq_n_u32(v);
	int			w,
				k;

	for (w = 0; w < nwords; w++)
	{
		const uint32_t *p = vals + 64 * w;
		uint64_t	m = 0;

		for (k = 0; k < 16; k++)
		{
			uint32x4_t	eq = vceqq_u32(vld1q_u32(p + 4 * k), key);

			m |= (uint64_t) vaddvq_u32(vandq_u32(eq, weights)) << (4 * k);
		}
		out[w] = m;
	}
}

static void
u32PairHasMaskNeon(const uint32_t *lo, const uint32_t *hi, int nwords,
				   uint32_t mlo, uint32_t mhi, uint64_t *out)
{
	static const uint32_t bits[4] = {1, 2, 4, 8};
	uint32x4_t	weights = vld1q_u32(bits);
	uint32x4_t	kl = vdupq_n_u32(mlo);
	uint32x4_t	kh = vdupq_n_u32(mhi);
	int			w,
				k;

	for (w = 0; w < nwords; w++)
	{
		uint64_t	m = 0;

		for (k = 0; k < 16; k++)
		{
			size_t		i = 64 * (size_t) w + 4 * k;
			uint32x4_t	ok = vandq_u32(vceqq_u32(vandq_u32(vld1q_u32(lo + i), kl), kl),
									   vceqq_u32(vandq_u32(vld1q_u32(hi + i), kh), kh));

			m |= (uint64_t) vaddvq_u32(vandq_u32(ok, weights)) << (4 * k);
		}
		out[w] = m;
	}
}

const VectorKernels vk_neon_kernels = {
	"neon",
	VK_LEVEL_NEON,
	f32L2SqNeon,
	f32DotNeon,
	f32L1Neon,
	f32DotNormsNeon,
	f32NormSqNeon,
	f32L2SqBatchNeon,
	f32DotBatchNeon,
	f32DotRowsNeon,
	bitHammingNeon,
	bitAndOrCountNeon,
	f16ToF32Neon,
	f32ToF16Neon,
	f16L2SqNeon,
	f16DotNeon,
	f16L1Neon,
	f16DotNormsNeon,
	f16L2SqBatchNeon,
	f16DotBatchNeon,
	rbqDotNeon,
	rbqDotBatchNeon,
	u32EqMaskNeon,
	u32PairHasMaskNeon
};

#endif							/* VK_HAVE_NEON */
