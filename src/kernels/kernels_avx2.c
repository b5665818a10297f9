/*
 * kernels_avx2.c
 *	  AVX2 + FMA distance kernels (vk_avx2_kernels).
 *
 * Built with -mavx2 -mfma -mpopcnt -mf16c and nothing else (see
 * kernels.mk); it is only entered after vk_detect() has seen AVX2, FMA,
 * POPCNT and F16C (every AVX2 CPU has the last two) and OS support for the
 * YMM state.  The bit kernels also
 * serve the AVX-512 table on CPUs without VPOPCNTDQ.
 *
 * Float loops keep four independent accumulators (32 floats a step): an FMA
 * has a latency of 4-5 cycles and two issue per cycle, so a single chain
 * would run at a tenth of the unit's throughput.  Tails use masked loads,
 * which neither fault on nor read the lanes past the end, so there is no
 * scalar tail loop and no over-read.
 *
 * src/kernels/kernels_avx2.c
 */
#include "kernels.h"

/* x86-64 only: elsewhere this file compiles to nothing (kernels.h) */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>
#include <string.h>

/* Windows into this give a mask of the first k lanes set, 0 <= k <= 8. */
static const int32_t vkTailMaskAvx2[16] = {
	-1, -1, -1, -1, -1, -1, -1, -1,
	0, 0, 0, 0, 0, 0, 0, 0
};

static inline __m256i
tailMaskAvx2(int k)
{
	return _mm256_loadu_si256((const void *) (vkTailMaskAvx2 + 8 - k));
}

static inline float
hsumAvx2(__m256 v)
{
	__m128		lo = _mm256_castps256_ps128(v);
	__m128		hi = _mm256_extractf128_ps(v, 1);

	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

static float
f32L2SqAvx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__m256i		m = tailMaskAvx2(n - i);

		d1 = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
						   _mm256_maskload_ps(b + i, m));
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float
f32DotAvx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	if (i < n)
	{
		__m256i		m = tailMaskAvx2(n - i);

		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m),
							 _mm256_maskload_ps(b + i, m), s1);
	}
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float
f32L1Avx2(const float *a, const float *b, int n)
{
	/* |x| clears the sign bit: andnot with -0.0f */
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
		s2 = _mm256_add_ps(s2, _mm256_andnot_ps(sign, d2));
		s3 = _mm256_add_ps(s3, _mm256_andnot_ps(sign, d3));
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
	}
	if (i < n)
	{
		__m256i		m = tailMaskAvx2(n - i);

		d1 = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
						   _mm256_maskload_ps(b + i, m));
		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
	}
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/*
 * Three sums, four chains each: twelve accumulators plus the two loaded
 * operands fit in the sixteen YMM registers.
 */
static void
f32DotNormsAvx2(const float *a, const float *b, int n,
				float *dot, float *aa, float *bb)
{
	__m256		d0 = _mm256_setzero_ps(),
				d1 = _mm256_setzero_ps(),
				d2 = _mm256_setzero_ps(),
				d3 = _mm256_setzero_ps();
	__m256		x0 = _mm256_setzero_ps(),
				x1 = _mm256_setzero_ps(),
				x2 = _mm256_setzero_ps(),
				x3 = _mm256_setzero_ps();
	__m256		y0 = _mm256_setzero_ps(),
				y1 = _mm256_setzero_ps(),
				y2 = _mm256_setzero_ps(),
				y3 = _mm256_setzero_ps();
	__m256		va,
				vb;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		va = _mm256_loadu_ps(a + i);
		vb = _mm256_loadu_ps(b + i);
		d0 = _mm256_fmadd_ps(va, vb, d0);
		x0 = _mm256_fmadd_ps(va, va, x0);
		y0 = _mm256_fmadd_ps(vb, vb, y0);
		va = _mm256_loadu_ps(a + i + 8);
		vb = _mm256_loadu_ps(b + i + 8);
		d1 = _mm256_fmadd_ps(va, vb, d1);
		x1 = _mm256_fmadd_ps(va, va, x1);
		y1 = _mm256_fmadd_ps(vb, vb, y1);
		va = _mm256_loadu_ps(a + i + 16);
		vb = _mm256_loadu_ps(b + i + 16);
		d2 = _mm256_fmadd_ps(va, vb, d2);
		x2 = _mm256_fmadd_ps(va, va, x2);
		y2 = _mm256_fmadd_ps(vb, vb, y2);
		va = _mm256_loadu_ps(a + i + 24);
		vb = _mm256_loadu_ps(b + i + 24);
		d3 = _mm256_fmadd_ps(va, vb, d3);
		x3 = _mm256_fmadd_ps(va, va, x3);
		y3 = _mm256_fmadd_ps(vb, vb, y3);
	}
	for (; i + 8 <= n; i += 8)
	{
		va = _mm256_loadu_ps(a + i);
		vb = _mm256_loadu_ps(b + i);
		d0 = _mm256_fmadd_ps(va, vb, d0);
		x0 = _mm256_fmadd_ps(va, va, x0);
		y0 = _mm256_fmadd_ps(vb, vb, y0);
	}
	if (i < n)
	{
		__m256i		m = tailMaskAvx2(n - i);

		va = _mm256_maskload_ps(a + i, m);
		vb = _mm256_maskload_ps(b + i, m);
		d1 = _mm256_fmadd_ps(va, vb, d1);
		x1 = _mm256_fmadd_ps(va, va, x1);
		y1 = _mm256_fmadd_ps(vb, vb, y1);
	}
	*dot = hsumAvx2(_mm256_add_ps(_mm256_add_ps(d0, d1), _mm256_add_ps(d2, d3)));
	*aa = hsumAvx2(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)));
	*bb = hsumAvx2(_mm256_add_ps(_mm256_add_ps(y0, y1), _mm256_add_ps(y2, y3)));
}

static float
f32NormSqAvx2(const float *a, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		v0,
				v1,
				v2,
				v3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		v0 = _mm256_loadu_ps(a + i);
		v1 = _mm256_loadu_ps(a + i + 8);
		v2 = _mm256_loadu_ps(a + i + 16);
		v3 = _mm256_loadu_ps(a + i + 24);
		s0 = _mm256_fmadd_ps(v0, v0, s0);
		s1 = _mm256_fmadd_ps(v1, v1, s1);
		s2 = _mm256_fmadd_ps(v2, v2, s2);
		s3 = _mm256_fmadd_ps(v3, v3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		v0 = _mm256_loadu_ps(a + i);
		s0 = _mm256_fmadd_ps(v0, v0, s0);
	}
	if (i < n)
	{
		v1 = _mm256_maskload_ps(a + i, tailMaskAvx2(n - i));
		s1 = _mm256_fmadd_ps(v1, v1, s1);
	}
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/*
 * Items of a batch sit at unrelated addresses (graph neighbours, list
 * entries), so the hardware prefetcher cannot guess the next one; touching
 * its first lines early overlaps that miss with the current distance.  The
 * stream prefetcher follows on from there.
 */
static inline void
prefetchItemAvx2(const float *item, int n)
{
	const char *p = (const char *) item;
	int			bytes = n * (int) sizeof(float);
	int			off;

	for (off = 0; off < bytes && off < 256; off += 64)
		_mm_prefetch(p + off, _MM_HINT_T0);
}

/*
 * Four rows per pass: the query chunk is loaded once for four products, so
 * the loop does five loads per four FMAs instead of eight.
 */
static void
f32DotRowsAvx2(const float *q, const float *rows, size_t stride,
			   int count, int n, float *out)
{
	int			r = 0;

	for (; r + 4 <= count; r += 4)
	{
		const float *r0 = rows + (size_t) r * stride;
		const float *r1 = r0 + stride;
		const float *r2 = r1 + stride;
		const float *r3 = r2 + stride;
		__m256		s0 = _mm256_setzero_ps();
		__m256		s1 = _mm256_setzero_ps();
		__m256		s2 = _mm256_setzero_ps();
		__m256		s3 = _mm256_setzero_ps();
		int			i = 0;

		for (; i + 8 <= n; i += 8)
		{
			__m256		qv = _mm256_loadu_ps(q + i);

			s0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + i), s0);
			s1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + i), s1);
			s2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + i), s2);
			s3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + i), s3);
		}
		if (i < n)
		{
			__m256i		m = tailMaskAvx2(n - i);
			__m256		qv = _mm256_maskload_ps(q + i, m);

			s0 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(r0 + i, m), s0);
			s1 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(r1 + i, m), s1);
			s2 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(r2 + i, m), s2);
			s3 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(r3 + i, m), s3);
		}
		out[r] = hsumAvx2(s0);
		out[r + 1] = hsumAvx2(s1);
		out[r + 2] = hsumAvx2(s2);
		out[r + 3] = hsumAvx2(s3);
	}
	for (; r < count; r++)
		out[r] = f32DotAvx2(q, rows + (size_t) r * stride, n);
}

/* One single-kernel call per item keeps batch and single results identical. */
static void
f32L2SqBatchAvx2(const float *q, const float *const *items,
				 int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx2(items[i + 1], n);
		out[i] = f32L2SqAvx2(q, items[i], n);
	}
}

static void
f32DotBatchAvx2(const float *q, const float *const *items,
				int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx2(items[i + 1], n);
		out[i] = f32DotAvx2(q, items[i], n);
	}
}

static inline uint64_t
load64Avx2(const uint8_t *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/*
 * Hardware POPCNT on 64-bit words, four independent counters so that the
 * adds do not serialise behind each popcount.
 */
static uint64_t
bitHammingAvx2(const uint8_t *a, const uint8_t *b, int nbytes)
{
	uint64_t	c0 = 0,
				c1 = 0,
				c2 = 0,
				c3 = 0;
	int			i = 0;

	for (; i + 32 <= nbytes; i += 32)
	{
		c0 += __builtin_popcountll(load64Avx2(a + i) ^ load64Avx2(b + i));
		c1 += __builtin_popcountll(load64Avx2(a + i + 8) ^ load64Avx2(b + i + 8));
		c2 += __builtin_popcountll(load64Avx2(a + i + 16) ^ load64Avx2(b + i + 16));
		c3 += __builtin_popcountll(load64Avx2(a + i + 24) ^ load64Avx2(b + i + 24));
	}
	for (; i + 8 <= nbytes; i += 8)
		c0 += __builtin_popcountll(load64Avx2(a + i) ^ load64Avx2(b + i));
	for (; i < nbytes; i++)
		c1 += __builtin_popcount((unsigned int) (a[i] ^ b[i]));
	return (c0 + c1) + (c2 + c3);
}

static void
bitAndOrCountAvx2(const uint8_t *a, const uint8_t *b, int nbytes,
				  uint64_t *inter, uint64_t *uni)
{
	uint64_t	i0 = 0,
				i1 = 0,
				u0 = 0,
				u1 = 0;
	uint64_t	wa,
				wb;
	int			i = 0;

	for (; i + 16 <= nbytes; i += 16)
	{
		wa = load64Avx2(a + i);
		wb = load64Avx2(b + i);
		i0 += __builtin_popcountll(wa & wb);
		u0 += __builtin_popcountll(wa | wb);
		wa = load64Avx2(a + i + 8);
		wb = load64Avx2(b + i + 8);
		i1 += __builtin_popcountll(wa & wb);
		u1 += __builtin_popcountll(wa | wb);
	}
	for (; i + 8 <= nbytes; i += 8)
	{
		wa = load64Avx2(a + i);
		wb = load64Avx2(b + i);
		i0 += __builtin_popcountll(wa & wb);
		u0 += __builtin_popcountll(wa | wb);
	}
	for (; i < nbytes; i++)
	{
		i1 += __builtin_popcount((unsigned int) (a[i] & b[i]));
		u1 += __builtin_popcount((unsigned int) (a[i] | b[i]));
	}
	*inter = i0 + i1;
	*uni = u0 + u1;
}

/* ---------------------------------------------------------------- halves */

/*
 * F16C widens eight halves to eight floats exactly (VCVTPH2PS), so the half
 * kernels are the float ones with a conversion after each load.  AVX2 has
 * no 16-bit masked load: the tail goes through a zeroed local buffer.
 */
static inline __m256
loadHalvesAvx2(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

static inline __m256
loadHalvesTailAvx2(const uint16_t *p, int k)
{
	uint16_t	buf[8] = {0};

	memcpy(buf, p, sizeof(uint16_t) * k);
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) buf));
}

static void
f16ToF32Avx2(const uint16_t *in, float *out, int n)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, loadHalvesAvx2(in + i));
	if (i < n)
		_mm256_maskstore_ps(out + i, tailMaskAvx2(n - i), loadHalvesTailAvx2(in + i, n - i));
}

static void
f32ToF16Avx2(const float *in, uint16_t *out, int n)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *) (out + i),
						 _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
	if (i < n)
	{
		uint16_t	buf[8];
		__m256		v = _mm256_maskload_ps(in + i, tailMaskAvx2(n - i));

		_mm_storeu_si128((__m128i *) buf, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
		memcpy(out + i, buf, sizeof(uint16_t) * (n - i));
	}
}

static float
f16L2SqAvx2(const uint16_t *a, const uint16_t *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(loadHalvesAvx2(a + i), loadHalvesAvx2(b + i));
		d1 = _mm256_sub_ps(loadHalvesAvx2(a + i + 8), loadHalvesAvx2(b + i + 8));
		d2 = _mm256_sub_ps(loadHalvesAvx2(a + i + 16), loadHalvesAvx2(b + i + 16));
		d3 = _mm256_sub_ps(loadHalvesAvx2(a + i + 24), loadHalvesAvx2(b + i + 24));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(loadHalvesAvx2(a + i), loadHalvesAvx2(b + i));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		d1 = _mm256_sub_ps(loadHalvesTailAvx2(a + i, n - i), loadHalvesTailAvx2(b + i, n - i));
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float
f16DotAvx2(const uint16_t *a, const uint16_t *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(loadHalvesAvx2(a + i), loadHalvesAvx2(b + i), s0);
		s1 = _mm256_fmadd_ps(loadHalvesAvx2(a + i + 8), loadHalvesAvx2(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(loadHalvesAvx2(a + i + 16), loadHalvesAvx2(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(loadHalvesAvx2(a + i + 24), loadHalvesAvx2(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(loadHalvesAvx2(a + i), loadHalvesAvx2(b + i), s0);
	if (i < n)
		s1 = _mm256_fmadd_ps(loadHalvesTailAvx2(a + i, n - i),
							 loadHalvesTailAvx2(b + i, n - i), s1);
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float
f16L1Avx2(const uint16_t *a, const uint16_t *b, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(loadHalvesAvx2(a + i), loadHalvesAvx2(b + i));
		d1 = _mm256_sub_ps(loadHalvesAvx2(a + i + 8), loadHalvesAvx2(b + i + 8));
		d2 = _mm256_sub_ps(loadHalvesAvx2(a + i + 16), loadHalvesAvx2(b + i + 16));
		d3 = _mm256_sub_ps(loadHalvesAvx2(a + i + 24), loadHalvesAvx2(b + i + 24));
		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
		s2 = _mm256_add_ps(s2, _mm256_andnot_ps(sign, d2));
		s3 = _mm256_add_ps(s3, _mm256_andnot_ps(sign, d3));
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(loadHalvesAvx2(a + i), loadHalvesAvx2(b + i));
		s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
	}
	if (i < n)
	{
		d1 = _mm256_sub_ps(loadHalvesTailAvx2(a + i, n - i), loadHalvesTailAvx2(b + i, n - i));
		s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
	}
	return hsumAvx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* Two chains per sum (16 halves a step) keep the registers within sixteen. */
static void
f16DotNormsAvx2(const uint16_t *a, const uint16_t *b, int n,
				float *dot, float *aa, float *bb)
{
	__m256		d0 = _mm256_setzero_ps(),
				d1 = _mm256_setzero_ps();
	__m256		x0 = _mm256_setzero_ps(),
				x1 = _mm256_setzero_ps();
	__m256		y0 = _mm256_setzero_ps(),
				y1 = _mm256_setzero_ps();
	__m256		va,
				vb;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		va = loadHalvesAvx2(a + i);
		vb = loadHalvesAvx2(b + i);
		d0 = _mm256_fmadd_ps(va, vb, d0);
		x0 = _mm256_fmadd_ps(va, va, x0);
		y0 = _mm256_fmadd_ps(vb, vb, y0);
		va = loadHalvesAvx2(a + i + 8);
		vb = loadHalvesAvx2(b + i + 8);
		d1 = _mm256_fmadd_ps(va, vb, d1);
		x1 = _mm256_fmadd_ps(va, va, x1);
		y1 = _mm256_fmadd_ps(vb, vb, y1);
	}
	for (; i + 8 <= n; i += 8)
	{
		va = loadHalvesAvx2(a + i);
		vb = loadHalvesAvx2(b + i);
		d0 = _mm256_fmadd_ps(va, vb, d0);
		x0 = _mm256_fmadd_ps(va, va, x0);
		y0 = _mm256_fmadd_ps(vb, vb, y0);
	}
	if (i < n)
	{
		va = loadHalvesTailAvx2(a + i, n - i);
		vb = loadHalvesTailAvx2(b + i, n - i);
		d1 = _mm256_fmadd_ps(va, vb, d1);
		x1 = _mm256_fmadd_ps(va, va, x1);
		y1 = _mm256_fmadd_ps(vb, vb, y1);
	}
	*dot = hsumAvx2(_mm256_add_ps(d0, d1));
	*aa = hsumAvx2(_mm256_add_ps(x0, x1));
	*bb = hsumAvx2(_mm256_add_ps(y0, y1));
}

static void
f16L2SqBatchAvx2(const uint16_t *q, const uint16_t *const *items,
				 int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx2((const float *) items[i + 1], (n + 1) / 2);
		out[i] = f16L2SqAvx2(q, items[i], n);
	}
}

static void
f16DotBatchAvx2(const uint16_t *q, const uint16_t *const *items,
				int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx2((const float *) items[i + 1], (n + 1) / 2);
		out[i] = f16DotAvx2(q, items[i], n);
	}
}

/*
 * RaBitQ <u, qu>: for each bit plane U_j of the code, the sum of the query
 * bytes qu_i where U_j has bit i set, weighted by 2^j.  32 coordinates a
 * step: the plane's 4 bytes are spread to one byte per coordinate
 * (broadcast, shuffle byte b to lanes 8b..8b+7, test one bit per lane),
 * the mask selects the query bytes, and SAD adds them into 64-bit lanes.
 * No popcount over 8 query planes is needed, which AVX2 lacks in vector
 * form.  padded is a multiple of 64, so there is no tail.
 */
/*
 * 4-bit codes are nibbles (rabitq.h): per 32 code bytes, the low halves
 * against one run of 32 query bytes and the high halves against the run
 * 64 (or, in a last block of 64, 32) coordinates on.  VPMADDUBSW takes the
 * query bytes as unsigned and the levels (0..15) as signed, so two of its
 * pair sums add up to at most 4 * 255 * 15 < 2^15, and VPMADDWD widens to
 * 32 bits.
 */
static int32_t
rbqDotNibblesAvx2(const uint8_t *qu, const uint8_t *code, int padded)
{
	const __m256i low = _mm256_set1_epi8(15);
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i		acc = _mm256_setzero_si256();
	__m128i		s;
	int			base,
				h;

	for (base = 0; base < padded; base += 128)
	{
		int			half = (padded - base >= 128) ? 64 : 32;
		const uint8_t *c = code + base / 2;
		const uint8_t *q = qu + base;

		for (h = 0; h < half; h += 32)
		{
			__m256i		b = _mm256_loadu_si256((const void *) (c + h));
			__m256i		lo = _mm256_and_si256(b, low);
			__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
			__m256i		p;

			p = _mm256_add_epi16(
				_mm256_maddubs_epi16(_mm256_loadu_si256((const void *) (q + h)), lo),
				_mm256_maddubs_epi16(_mm256_loadu_si256((const void *) (q + half + h)), hi));
			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
		}
	}
	s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

/*
 * 2-bit codes are crumbs (rabitq.h): per 32 code bytes, each of the four
 * 2-bit fields against its own run of query bytes, a quarter of the block
 * apart; four VPMADDUBSW pair sums add up to at most 8 * 255 * 3 < 2^15.
 * A quarter of 16 or 48 bytes (the last block of 64 or 192 coordinates)
 * ends in the 128-bit form.
 */
static int32_t
rbqDotCrumbsAvx2(const uint8_t *qu, const uint8_t *code, int padded)
{
	const __m256i three = _mm256_set1_epi8(3);
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i		acc = _mm256_setzero_si256();
	__m128i		acc4 = _mm_setzero_si128();
	__m128i		s;
	int			base,
				t;

	for (base = 0; base < padded; base += 256)
	{
		int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
		const uint8_t *c = code + base / 4;
		const uint8_t *q = qu + base;

		for (t = 0; t + 32 <= quarter; t += 32)
		{
			__m256i		b = _mm256_loadu_si256((const void *) (c + t));
			__m256i		p;

			p = _mm256_maddubs_epi16(_mm256_loadu_si256((const void *) (q + t)),
									 _mm256_and_si256(b, three));
			p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
				_mm256_loadu_si256((const void *) (q + quarter + t)),
				_mm256_and_si256(_mm256_srli_epi16(b, 2), three)));
			p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
				_mm256_loadu_si256((const void *) (q + 2 * quarter + t)),
				_mm256_and_si256(_mm256_srli_epi16(b, 4), three)));
			p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
				_mm256_loadu_si256((const void *) (q + 3 * quarter + t)),
				_mm256_and_si256(_mm256_srli_epi16(b, 6), three)));
			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
		}
		if (t < quarter)
		{
			const __m128i three4 = _mm_set1_epi8(3);
			__m128i		b = _mm_loadu_si128((const void *) (c + t));
			__m128i		p;

			p = _mm_maddubs_epi16(_mm_loadu_si128((const void *) (q + t)),
								  _mm_and_si128(b, three4));
			p = _mm_add_epi16(p, _mm_maddubs_epi16(
				_mm_loadu_si128((const void *) (q + quarter + t)),
				_mm_and_si128(_mm_srli_epi16(b, 2), three4)));
			p = _mm_add_epi16(p, _mm_maddubs_epi16(
				_mm_loadu_si128((const void *) (q + 2 * quarter + t)),
				_mm_and_si128(_mm_srli_epi16(b, 4), three4)));
			p = _mm_add_epi16(p, _mm_maddubs_epi16(
				_mm_loadu_si128((const void *) (q + 3 * quarter + t)),
				_mm_and_si128(_mm_srli_epi16(b, 6), three4)));
			acc4 = _mm_add_epi32(acc4, _mm_madd_epi16(p, _mm_set1_epi16(1)));
		}
	}
	s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
	s = _mm_add_epi32(s, acc4);
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

static int32_t
rbqDotAvx2(const uint8_t *query_layout, const uint8_t *code,
		   int padded, int bits)
{
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0,
											1, 1, 1, 1, 1, 1, 1, 1,
											2, 2, 2, 2, 2, 2, 2, 2,
											3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x((long long) UINT64_C(0x8040201008040201));
	const __m256i zero = _mm256_setzero_si256();
	int			planeBytes = padded / 8;
	uint64_t	total = 0;
	int			j,
				i;

	if (bits == 4)
		return rbqDotNibblesAvx2(query_layout, code, padded);
	if (bits == 2)
		return rbqDotCrumbsAvx2(query_layout, code, padded);

	for (j = 0; j < bits; j++)
	{
		const uint8_t *cp = code + (size_t) j * planeBytes;
		__m256i		acc0 = zero;
		__m256i		acc1 = zero;
		__m128i		s;

		for (i = 0; i < padded; i += 64)
		{
			uint32_t	m0,
						m1;
			__m256i		v0,
						v1;

			memcpy(&m0, cp + i / 8, 4);
			memcpy(&m1, cp + i / 8 + 4, 4);
			v0 = _mm256_shuffle_epi8(_mm256_set1_epi32((int) m0), spread);
			v1 = _mm256_shuffle_epi8(_mm256_set1_epi32((int) m1), spread);
			v0 = _mm256_cmpeq_epi8(_mm256_and_si256(v0, bit), bit);
			v1 = _mm256_cmpeq_epi8(_mm256_and_si256(v1, bit), bit);
			v0 = _mm256_and_si256(v0, _mm256_loadu_si256((const void *) (query_layout + i)));
			v1 = _mm256_and_si256(v1, _mm256_loadu_si256((const void *) (query_layout + i + 32)));
			acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(v0, zero));
			acc1 = _mm256_add_epi64(acc1, _mm256_sad_epu8(v1, zero));
		}
		acc0 = _mm256_add_epi64(acc0, acc1);
		s = _mm_add_epi64(_mm256_castsi256_si128(acc0),
						  _mm256_extracti128_si256(acc0, 1));
		s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
		total += (uint64_t) _mm_cvtsi128_si64(s) << j;
	}
	return (int32_t) total;
}

static void
rbqDotBatchAvx2(const uint8_t *query_layout, const uint8_t *const *codes,
				int count, int padded, int bits, int32_t *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx2((const float *) codes[i + 1], bits * padded / 32);
		out[i] = rbqDotAvx2(query_layout, codes[i], padded, bits);
	}
}

/* eight compares of eight lanes, each lane's sign bit gathered by movemask */
static void
u32EqMaskAvx2(const uint32_t *vals, int nwords, uint32_t v, uint64_t *out)
{
	__m256i		key = _mm256_set1_epi32((int) v);
	int			w,
				k;

	for (w = 0; w < nwords; w++)
	{
		const uint32_t *p = vals + 64 * w;
		uint64_t	m = 0;

		for (k = 0; k < 8; k++)
		{
			__m256i		x = _mm256_loadu_si256((const __m256i *) (p + 8 * k));
			__m256i		eq = _mm256_cmpeq_epi32(x, key);

			m |= (uint64_t) (uint32_t) _mm256_movemask_ps(_mm256_castsi256_ps(eq)) << (8 * k);
		}
		out[w] = m;
	}
}

static void
u32PairHasMaskAvx2(const uint32_t *lo, const uint32_t *hi, int nwords,
				   uint32_t mlo, uint32_t mhi, uint64_t *out)
{
	__m256i		kl = _mm256_set1_epi32((int) mlo);
	__m256i		kh = _mm256_set1_epi32((int) mhi);
	int			w,
				k;

	for (w = 0; w < nwords; w++)
	{
		uint64_t	m = 0;

		for (k = 0; k < 8; k++)
		{
			size_t		i = 64 * (size_t) w + 8 * k;
			__m256i		l = _mm256_loadu_si256((const __m256i *) (lo + i));
			__m256i		h = _mm256_loadu_si256((const __m256i *) (hi + i));
			__m256i		ok = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(l, kl), kl),
											  _mm256_cmpeq_epi32(_mm256_and_si256(h, kh), kh));

			m |= (uint64_t) (uint32_t) _mm256_movemask_ps(_mm256_castsi256_ps(ok)) << (8 * k);
		}
		out[w] = m;
	}
}

const VectorKernels vk_avx2_kernels = {
	"avx2",
	VK_LEVEL_AVX2,
	f32L2SqAvx2,
	f32DotAvx2,
	f32L1Avx2,
	f32DotNormsAvx2,
	f32NormSqAvx2,
	f32L2SqBatchAvx2,
	f32DotBatchAvx2,
	f32DotRowsAvx2,
	bitHammingAvx2,
	bitAndOrCountAvx2,
	f16ToF32Avx2,
	f32ToF16Avx2,
	f16L2SqAvx2,
	f16DotAvx2,
	f16L1Avx2,
	f16DotNormsAvx2,
	f16L2SqBatchAvx2,
	f16DotBatchAvx2,
	rbqDotAvx2,
	rbqDotBatchAvx2,
	u32EqMaskAvx2,
	u32PairHasMaskAvx2
};

#endif							/* x86-64 */
