/*
 * kernels_avx512.c
 *	  AVX-512 distance kernels (vk_avx512_kernels).
 *
 * Built with -mavx512f -mavx512vpopcntdq -mavx512bw -mavx512vl -mavx2 -mfma
 * -mpopcnt -mf16c (see kernels.mk).  vk_detect() selects this level only with
 * AVX-512 F, BW and VL and OS support for the opmask and ZMM state, since
 * the compiler may use any of those encodings here.  The bit kernels need
 * VPOPCNTDQ besides; without it vk_table() pairs the float kernels of this
 * file with the AVX2 bit kernels, so nothing else in the file may rely on
 * VPOPCNTDQ.
 *
 * Same shape as the AVX2 file: four accumulators of 16 lanes, then single
 * vectors, then one masked load for the last n % 16 elements; masked-off
 * lanes are neither read nor able to fault.
 *
 * src/kernels/kernels_avx512.c
 */
#include "kernels.h"

/* x86-64 only: elsewhere this file compiles to nothing (kernels.h) */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>
#include <string.h>

/* First k lanes, 0 < k < 16 */
static inline __mmask16
tailMaskAvx512(int k)
{
	return (__mmask16) ((1u << k) - 1);
}

static float
f32L2SqAvx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
						   _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static float
f32DotAvx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
							 _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static float
f32L1Avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
		s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
		s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
	}
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
						   _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static void
f32DotNormsAvx512(const float *a, const float *b, int n,
				  float *dot, float *aa, float *bb)
{
	__m512		d0 = _mm512_setzero_ps(),
				d1 = _mm512_setzero_ps(),
				d2 = _mm512_setzero_ps(),
				d3 = _mm512_setzero_ps();
	__m512		x0 = _mm512_setzero_ps(),
				x1 = _mm512_setzero_ps(),
				x2 = _mm512_setzero_ps(),
				x3 = _mm512_setzero_ps();
	__m512		y0 = _mm512_setzero_ps(),
				y1 = _mm512_setzero_ps(),
				y2 = _mm512_setzero_ps(),
				y3 = _mm512_setzero_ps();
	__m512		va,
				vb;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		va = _mm512_loadu_ps(a + i);
		vb = _mm512_loadu_ps(b + i);
		d0 = _mm512_fmadd_ps(va, vb, d0);
		x0 = _mm512_fmadd_ps(va, va, x0);
		y0 = _mm512_fmadd_ps(vb, vb, y0);
		va = _mm512_loadu_ps(a + i + 16);
		vb = _mm512_loadu_ps(b + i + 16);
		d1 = _mm512_fmadd_ps(va, vb, d1);
		x1 = _mm512_fmadd_ps(va, va, x1);
		y1 = _mm512_fmadd_ps(vb, vb, y1);
		va = _mm512_loadu_ps(a + i + 32);
		vb = _mm512_loadu_ps(b + i + 32);
		d2 = _mm512_fmadd_ps(va, vb, d2);
		x2 = _mm512_fmadd_ps(va, va, x2);
		y2 = _mm512_fmadd_ps(vb, vb, y2);
		va = _mm512_loadu_ps(a + i + 48);
		vb = _mm512_loadu_ps(b + i + 48);
		d3 = _mm512_fmadd_ps(va, vb, d3);
		x3 = _mm512_fmadd_ps(va, va, x3);
		y3 = _mm512_fmadd_ps(vb, vb, y3);
	}
	for (; i + 16 <= n; i += 16)
	{
		va = _mm512_loadu_ps(a + i);
		vb = _mm512_loadu_ps(b + i);
		d0 = _mm512_fmadd_ps(va, vb, d0);
		x0 = _mm512_fmadd_ps(va, va, x0);
		y0 = _mm512_fmadd_ps(vb, vb, y0);
	}
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		va = _mm512_maskz_loadu_ps(m, a + i);
		vb = _mm512_maskz_loadu_ps(m, b + i);
		d1 = _mm512_fmadd_ps(va, vb, d1);
		x1 = _mm512_fmadd_ps(va, va, x1);
		y1 = _mm512_fmadd_ps(vb, vb, y1);
	}
	*dot = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(d0, d1),
											  _mm512_add_ps(d2, d3)));
	*aa = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1),
											 _mm512_add_ps(x2, x3)));
	*bb = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(y0, y1),
											 _mm512_add_ps(y2, y3)));
}

static float
f32NormSqAvx512(const float *a, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		v0,
				v1,
				v2,
				v3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		v0 = _mm512_loadu_ps(a + i);
		v1 = _mm512_loadu_ps(a + i + 16);
		v2 = _mm512_loadu_ps(a + i + 32);
		v3 = _mm512_loadu_ps(a + i + 48);
		s0 = _mm512_fmadd_ps(v0, v0, s0);
		s1 = _mm512_fmadd_ps(v1, v1, s1);
		s2 = _mm512_fmadd_ps(v2, v2, s2);
		s3 = _mm512_fmadd_ps(v3, v3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		v0 = _mm512_loadu_ps(a + i);
		s0 = _mm512_fmadd_ps(v0, v0, s0);
	}
	if (i < n)
	{
		v1 = _mm512_maskz_loadu_ps(tailMaskAvx512(n - i), a + i);
		s1 = _mm512_fmadd_ps(v1, v1, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

/* See prefetchItemAvx2: the next item's address is not predictable. */
static inline void
prefetchItemAvx512(const float *item, int n)
{
	const char *p = (const char *) item;
	int			bytes = n * (int) sizeof(float);
	int			off;

	for (off = 0; off < bytes && off < 256; off += 64)
		_mm_prefetch(p + off, _MM_HINT_T0);
}

/* One single-kernel call per item keeps batch and single results identical. */
static void
f32L2SqBatchAvx512(const float *q, const float *const *items,
				   int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx512(items[i + 1], n);
		out[i] = f32L2SqAvx512(q, items[i], n);
	}
}

static void
f32DotBatchAvx512(const float *q, const float *const *items,
				  int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx512(items[i + 1], n);
		out[i] = f32DotAvx512(q, items[i], n);
	}
}

/*
 * Four rows per pass: the query chunk is loaded once for four products, so
 * the loop does five loads per four FMAs instead of eight.
 */
static void
f32DotRowsAvx512(const float *q, const float *rows, size_t stride,
				 int count, int n, float *out)
{
	int			r = 0;

	for (; r + 4 <= count; r += 4)
	{
		const float *r0 = rows + (size_t) r * stride;
		const float *r1 = r0 + stride;
		const float *r2 = r1 + stride;
		const float *r3 = r2 + stride;
		__m512		s0 = _mm512_setzero_ps();
		__m512		s1 = _mm512_setzero_ps();
		__m512		s2 = _mm512_setzero_ps();
		__m512		s3 = _mm512_setzero_ps();
		int			i = 0;

		for (; i + 16 <= n; i += 16)
		{
			__m512		qv = _mm512_loadu_ps(q + i);

			s0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r0 + i), s0);
			s1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r1 + i), s1);
			s2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r2 + i), s2);
			s3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r3 + i), s3);
		}
		if (i < n)
		{
			__mmask16	m = tailMaskAvx512(n - i);
			__m512		qv = _mm512_maskz_loadu_ps(m, q + i);

			s0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r0 + i), s0);
			s1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r1 + i), s1);
			s2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r2 + i), s2);
			s3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r3 + i), s3);
		}
		out[r] = _mm512_reduce_add_ps(s0);
		out[r + 1] = _mm512_reduce_add_ps(s1);
		out[r + 2] = _mm512_reduce_add_ps(s2);
		out[r + 3] = _mm512_reduce_add_ps(s3);
	}
	for (; r < count; r++)
		out[r] = f32DotAvx512(q, rows + (size_t) r * stride, n);
}

/*
 * Bit kernels: VPOPCNTDQ counts eight words per instruction; per-lane
 * 64-bit counts cannot overflow for any int-sized input.  The byte tail is a
 * masked byte load (AVX-512BW).
 */
static inline __mmask64
byteTailMaskAvx512(int k)
{
	/* 0 < k < 64 */
	return (__mmask64) ((UINT64_C(1) << k) - 1);
}

static uint64_t
bitHammingAvx512(const uint8_t *a, const uint8_t *b, int nbytes)
{
	__m512i		c0 = _mm512_setzero_si512();
	__m512i		c1 = _mm512_setzero_si512();
	__m512i		x0,
				x1;
	int			i = 0;

	for (; i + 128 <= nbytes; i += 128)
	{
		x0 = _mm512_xor_si512(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
		x1 = _mm512_xor_si512(_mm512_loadu_si512(a + i + 64),
							  _mm512_loadu_si512(b + i + 64));
		c0 = _mm512_add_epi64(c0, _mm512_popcnt_epi64(x0));
		c1 = _mm512_add_epi64(c1, _mm512_popcnt_epi64(x1));
	}
	for (; i + 64 <= nbytes; i += 64)
	{
		x0 = _mm512_xor_si512(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
		c0 = _mm512_add_epi64(c0, _mm512_popcnt_epi64(x0));
	}
	if (i < nbytes)
	{
		__mmask64	m = byteTailMaskAvx512(nbytes - i);

		x1 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i),
							  _mm512_maskz_loadu_epi8(m, b + i));
		c1 = _mm512_add_epi64(c1, _mm512_popcnt_epi64(x1));
	}
	return (uint64_t) _mm512_reduce_add_epi64(_mm512_add_epi64(c0, c1));
}

static void
bitAndOrCountAvx512(const uint8_t *a, const uint8_t *b, int nbytes,
					uint64_t *inter, uint64_t *uni)
{
	__m512i		ci0 = _mm512_setzero_si512();
	__m512i		ci1 = _mm512_setzero_si512();
	__m512i		cu0 = _mm512_setzero_si512();
	__m512i		cu1 = _mm512_setzero_si512();
	__m512i		va,
				vb;
	int			i = 0;

	for (; i + 128 <= nbytes; i += 128)
	{
		va = _mm512_loadu_si512(a + i);
		vb = _mm512_loadu_si512(b + i);
		ci0 = _mm512_add_epi64(ci0, _mm512_popcnt_epi64(_mm512_and_si512(va, vb)));
		cu0 = _mm512_add_epi64(cu0, _mm512_popcnt_epi64(_mm512_or_si512(va, vb)));
		va = _mm512_loadu_si512(a + i + 64);
		vb = _mm512_loadu_si512(b + i + 64);
		ci1 = _mm512_add_epi64(ci1, _mm512_popcnt_epi64(_mm512_and_si512(va, vb)));
		cu1 = _mm512_add_epi64(cu1, _mm512_popcnt_epi64(_mm512_or_si512(va, vb)));
	}
	for (; i + 64 <= nbytes; i += 64)
	{
		va = _mm512_loadu_si512(a + i);
		vb = _mm512_loadu_si512(b + i);
		ci0 = _mm512_add_epi64(ci0, _mm512_popcnt_epi64(_mm512_and_si512(va, vb)));
		cu0 = _mm512_add_epi64(cu0, _mm512_popcnt_epi64(_mm512_or_si512(va, vb)));
	}
	if (i < nbytes)
	{
		__mmask64	m = byteTailMaskAvx512(nbytes - i);

		va = _mm512_maskz_loadu_epi8(m, a + i);
		vb = _mm512_maskz_loadu_epi8(m, b + i);
		ci1 = _mm512_add_epi64(ci1, _mm512_popcnt_epi64(_mm512_and_si512(va, vb)));
		cu1 = _mm512_add_epi64(cu1, _mm512_popcnt_epi64(_mm512_or_si512(va, vb)));
	}
	*inter = (uint64_t) _mm512_reduce_add_epi64(_mm512_add_epi64(ci0, ci1));
	*uni = (uint64_t) _mm512_reduce_add_epi64(_mm512_add_epi64(cu0, cu1));
}

/* ---------------------------------------------------------------- halves */

/*
 * VCVTPH2PS on a ZMM register widens sixteen halves exactly (AVX-512F); the
 * tail is a masked 16-bit load (AVX-512BW + VL), which reads nothing past
 * the last element.
 */
static inline __m512
loadHalvesAvx512(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) p));
}

static inline __m512
loadHalvesTailAvx512(const uint16_t *p, __mmask16 m)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static void
f16ToF32Avx512(const uint16_t *in, float *out, int n)
{
	int			i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, loadHalvesAvx512(in + i));
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		_mm512_mask_storeu_ps(out + i, m, loadHalvesTailAvx512(in + i, m));
	}
}

static void
f32ToF16Avx512(const float *in, uint16_t *out, int n)
{
	int			i = 0;

	for (; i + 16 <= n; i += 16)
		_mm256_storeu_si256((__m256i *) (out + i),
							_mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		_mm256_mask_storeu_epi16(out + i, m,
								 _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, in + i),
												 _MM_FROUND_TO_NEAREST_INT));
	}
}

static float
f16L2SqAvx512(const uint16_t *a, const uint16_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(loadHalvesAvx512(a + i), loadHalvesAvx512(b + i));
		d1 = _mm512_sub_ps(loadHalvesAvx512(a + i + 16), loadHalvesAvx512(b + i + 16));
		d2 = _mm512_sub_ps(loadHalvesAvx512(a + i + 32), loadHalvesAvx512(b + i + 32));
		d3 = _mm512_sub_ps(loadHalvesAvx512(a + i + 48), loadHalvesAvx512(b + i + 48));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(loadHalvesAvx512(a + i), loadHalvesAvx512(b + i));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		d1 = _mm512_sub_ps(loadHalvesTailAvx512(a + i, m), loadHalvesTailAvx512(b + i, m));
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static float
f16DotAvx512(const uint16_t *a, const uint16_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_fmadd_ps(loadHalvesAvx512(a + i), loadHalvesAvx512(b + i), s0);
		s1 = _mm512_fmadd_ps(loadHalvesAvx512(a + i + 16), loadHalvesAvx512(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(loadHalvesAvx512(a + i + 32), loadHalvesAvx512(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(loadHalvesAvx512(a + i + 48), loadHalvesAvx512(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(loadHalvesAvx512(a + i), loadHalvesAvx512(b + i), s0);
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		s1 = _mm512_fmadd_ps(loadHalvesTailAvx512(a + i, m), loadHalvesTailAvx512(b + i, m), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static float
f16L1Avx512(const uint16_t *a, const uint16_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(loadHalvesAvx512(a + i), loadHalvesAvx512(b + i));
		d1 = _mm512_sub_ps(loadHalvesAvx512(a + i + 16), loadHalvesAvx512(b + i + 16));
		d2 = _mm512_sub_ps(loadHalvesAvx512(a + i + 32), loadHalvesAvx512(b + i + 32));
		d3 = _mm512_sub_ps(loadHalvesAvx512(a + i + 48), loadHalvesAvx512(b + i + 48));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
		s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
		s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(loadHalvesAvx512(a + i), loadHalvesAvx512(b + i));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
	}
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		d1 = _mm512_sub_ps(loadHalvesTailAvx512(a + i, m), loadHalvesTailAvx512(b + i, m));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static void
f16DotNormsAvx512(const uint16_t *a, const uint16_t *b, int n,
				  float *dot, float *aa, float *bb)
{
	__m512		d0 = _mm512_setzero_ps(),
				d1 = _mm512_setzero_ps();
	__m512		x0 = _mm512_setzero_ps(),
				x1 = _mm512_setzero_ps();
	__m512		y0 = _mm512_setzero_ps(),
				y1 = _mm512_setzero_ps();
	__m512		va,
				vb;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		va = loadHalvesAvx512(a + i);
		vb = loadHalvesAvx512(b + i);
		d0 = _mm512_fmadd_ps(va, vb, d0);
		x0 = _mm512_fmadd_ps(va, va, x0);
		y0 = _mm512_fmadd_ps(vb, vb, y0);
		va = loadHalvesAvx512(a + i + 16);
		vb = loadHalvesAvx512(b + i + 16);
		d1 = _mm512_fmadd_ps(va, vb, d1);
		x1 = _mm512_fmadd_ps(va, va, x1);
		y1 = _mm512_fmadd_ps(vb, vb, y1);
	}
	for (; i + 16 <= n; i += 16)
	{
		va = loadHalvesAvx512(a + i);
		vb = loadHalvesAvx512(b + i);
		d0 = _mm512_fmadd_ps(va, vb, d0);
		x0 = _mm512_fmadd_ps(va, va, x0);
		y0 = _mm512_fmadd_ps(vb, vb, y0);
	}
	if (i < n)
	{
		__mmask16	m = tailMaskAvx512(n - i);

		va = loadHalvesTailAvx512(a + i, m);
		vb = loadHalvesTailAvx512(b + i, m);
		d1 = _mm512_fmadd_ps(va, vb, d1);
		x1 = _mm512_fmadd_ps(va, va, x1);
		y1 = _mm512_fmadd_ps(vb, vb, y1);
	}
	*dot = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
	*aa = _mm512_reduce_add_ps(_mm512_add_ps(x0, x1));
	*bb = _mm512_reduce_add_ps(_mm512_add_ps(y0, y1));
}

static void
f16L2SqBatchAvx512(const uint16_t *q, const uint16_t *const *items,
				   int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx512((const float *) items[i + 1], (n + 1) / 2);
		out[i] = f16L2SqAvx512(q, items[i], n);
	}
}

static void
f16DotBatchAvx512(const uint16_t *q, const uint16_t *const *items,
				  int count, int n, float *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx512((const float *) items[i + 1], (n + 1) / 2);
		out[i] = f16DotAvx512(q, items[i], n);
	}
}

/*
 * RaBitQ <u, qu>: for each bit plane U_j of the code, the sum of the query
 * bytes qu_i where U_j has bit i set, weighted by 2^j.  64 coordinates a
 * step: the plane's 8 bytes are the mask of a masked byte load of the
 * query (AVX-512BW), and SAD adds the selected bytes into 64-bit lanes.
 * That is one load, one SAD and one add per 64 coordinates and plane, and
 * unlike VPOPCNTQ over the query's eight bit planes it wastes nothing when
 * a plane is shorter than a register (128 coordinates: 16 bytes) and needs
 * no VPOPCNTDQ.  padded is a multiple of 64: no tail.
 */
/*
 * 4-bit codes are nibbles (rabitq.h): a whole block of 128 coordinates is
 * one 64-byte load, its low halves against query bytes 0..63 and its high
 * halves against 64..127 (VPMADDUBSW, then VPMADDWD, as in the AVX2
 * version); a last block of 64 takes the 256-bit form.
 */
static int32_t
rbqDotNibblesAvx512(const uint8_t *qu, const uint8_t *code, int padded)
{
	const __m512i low = _mm512_set1_epi8(15);
	const __m512i ones = _mm512_set1_epi16(1);
	__m512i		acc = _mm512_setzero_si512();
	int			base = 0;

	for (; base + 128 <= padded; base += 128)
	{
		__m512i		b = _mm512_loadu_si512((const void *) (code + base / 2));
		__m512i		lo = _mm512_and_si512(b, low);
		__m512i		hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), low);
		__m512i		p;

		p = _mm512_add_epi16(
			_mm512_maddubs_epi16(_mm512_loadu_si512((const void *) (qu + base)), lo),
			_mm512_maddubs_epi16(_mm512_loadu_si512((const void *) (qu + base + 64)), hi));
		acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, ones));
	}
	if (base < padded)
	{
		const __m256i low8 = _mm256_set1_epi8(15);
		__m256i		b = _mm256_loadu_si256((const void *) (code + base / 2));
		__m256i		lo = _mm256_and_si256(b, low8);
		__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low8);
		__m256i		p;

		p = _mm256_add_epi16(
			_mm256_maddubs_epi16(_mm256_loadu_si256((const void *) (qu + base)), lo),
			_mm256_maddubs_epi16(_mm256_loadu_si256((const void *) (qu + base + 32)), hi));
		acc = _mm512_add_epi32(acc, _mm512_zextsi256_si512(
			_mm256_madd_epi16(p, _mm256_set1_epi16(1))));
	}
	return _mm512_reduce_add_epi32(acc);
}

/*
 * 2-bit codes are crumbs (rabitq.h), as in the AVX2 version: a whole block
 * of 256 coordinates is one 64-byte load whose four 2-bit fields meet four
 * runs of 64 query bytes; the quarters of a last block (16, 32 or 48
 * bytes) take the 256- and 128-bit forms.
 */
#define RBQ_CRUMBS_STEP(W, LOAD, AND, SRL, ADD, MADDUBS, c, q, quarter, t, three, p) \
	do { \
		W			b_ = LOAD((const void *) ((c) + (t))); \
		p = MADDUBS(LOAD((const void *) ((q) + (t))), AND(b_, three)); \
		p = ADD(p, MADDUBS(LOAD((const void *) ((q) + (quarter) + (t))), \
						   AND(SRL(b_, 2), three))); \
		p = ADD(p, MADDUBS(LOAD((const void *) ((q) + 2 * (quarter) + (t))), \
						   AND(SRL(b_, 4), three))); \
		p = ADD(p, MADDUBS(LOAD((const void *) ((q) + 3 * (quarter) + (t))), \
						   AND(SRL(b_, 6), three))); \
	} while (0)

static int32_t
rbqDotCrumbsAvx512(const uint8_t *qu, const uint8_t *code, int padded)
{
	const __m512i three = _mm512_set1_epi8(3);
	const __m256i three8 = _mm256_set1_epi8(3);
	const __m128i three4 = _mm_set1_epi8(3);
	__m512i		acc = _mm512_setzero_si512();
	__m256i		acc8 = _mm256_setzero_si256();
	__m128i		acc4 = _mm_setzero_si128();
	int			base,
				t;

	for (base = 0; base < padded; base += 256)
	{
		int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
		const uint8_t *c = code + base / 4;
		const uint8_t *q = qu + base;

		t = 0;
		if (quarter == 64)
		{
			__m512i		p;

			RBQ_CRUMBS_STEP(__m512i, _mm512_loadu_si512, _mm512_and_si512,
							_mm512_srli_epi16, _mm512_add_epi16, _mm512_maddubs_epi16,
							c, q, quarter, t, three, p);
			acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, _mm512_set1_epi16(1)));
			continue;
		}
		if (t + 32 <= quarter)
		{
			__m256i		p;

			RBQ_CRUMBS_STEP(__m256i, _mm256_loadu_si256, _mm256_and_si256,
							_mm256_srli_epi16, _mm256_add_epi16, _mm256_maddubs_epi16,
							c, q, quarter, t, three8, p);
			acc8 = _mm256_add_epi32(acc8, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
			t += 32;
		}
		if (t < quarter)
		{
			__m128i		p;

			RBQ_CRUMBS_STEP(__m128i, _mm_loadu_si128, _mm_and_si128,
							_mm_srli_epi16, _mm_add_epi16, _mm_maddubs_epi16,
							c, q, quarter, t, three4, p);
			acc4 = _mm_add_epi32(acc4, _mm_madd_epi16(p, _mm_set1_epi16(1)));
		}
	}
	acc = _mm512_add_epi32(acc, _mm512_zextsi256_si512(acc8));
	acc = _mm512_add_epi32(acc, _mm512_zextsi128_si512(acc4));
	return _mm512_reduce_add_epi32(acc);
}

static int32_t
rbqDotAvx512(const uint8_t *query_layout, const uint8_t *code,
			 int padded, int bits)
{
	const __m512i zero = _mm512_setzero_si512();
	int			planeBytes = padded / 8;
	__m512i		total = zero;
	int			j,
				i;

	if (bits == 4)
		return rbqDotNibblesAvx512(query_layout, code, padded);
	if (bits == 2)
		return rbqDotCrumbsAvx512(query_layout, code, padded);

	for (j = 0; j < bits; j++)
	{
		const uint8_t *cp = code + (size_t) j * planeBytes;
		__m512i		acc0 = zero;
		__m512i		acc1 = zero;
		uint64_t	m0,
					m1;

		for (i = 0; i + 128 <= padded; i += 128)
		{
			memcpy(&m0, cp + i / 8, 8);
			memcpy(&m1, cp + i / 8 + 8, 8);
			acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(
				_mm512_maskz_loadu_epi8(_cvtu64_mask64(m0), query_layout + i), zero));
			acc1 = _mm512_add_epi64(acc1, _mm512_sad_epu8(
				_mm512_maskz_loadu_epi8(_cvtu64_mask64(m1), query_layout + i + 64), zero));
		}
		if (i < padded)
		{
			memcpy(&m0, cp + i / 8, 8);
			acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(
				_mm512_maskz_loadu_epi8(_cvtu64_mask64(m0), query_layout + i), zero));
		}
		total = _mm512_add_epi64(total,
								 _mm512_sll_epi64(_mm512_add_epi64(acc0, acc1),
												  _mm_cvtsi32_si128(j)));
	}
	return (int32_t) _mm512_reduce_add_epi64(total);
}

static void
rbqDotBatchAvx512(const uint8_t *query_layout, const uint8_t *const *codes,
				  int count, int padded, int bits, int32_t *out)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (i + 1 < count)
			prefetchItemAvx512((const float *) codes[i + 1], bits * padded / 32);
		out[i] = rbqDotAvx512(query_layout, codes[i], padded, bits);
	}
}

/* four compares of sixteen lanes, each giving its mask register directly */
static void
u32EqMaskAvx512(const uint32_t *vals, int nwords, uint32_t v, uint64_t *out)
{
	__m512i		key = _mm512_set1_epi32((int) v);
	int			w,
				k;

	for (w = 0; w < nwords; w++)
	{
		const uint32_t *p = vals + 64 * w;
		uint64_t	m = 0;

		for (k = 0; k < 4; k++)
			m |= (uint64_t) _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(p + 16 * k), key) << (16 * k);
		out[w] = m;
	}
}

static void
u32PairHasMaskAvx512(const uint32_t *lo, const uint32_t *hi, int nwords,
					 uint32_t mlo, uint32_t mhi, uint64_t *out)
{
	__m512i		kl = _mm512_set1_epi32((int) mlo);
	__m512i		kh = _mm512_set1_epi32((int) mhi);
	int			w,
				k;

	for (w = 0; w < nwords; w++)
	{
		uint64_t	m = 0;

		for (k = 0; k < 4; k++)
		{
			size_t		i = 64 * (size_t) w + 16 * k;
			__mmask16	ok = _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_loadu_si512(lo + i), kl), kl);

			ok = _mm512_mask_cmpeq_epi32_mask(ok, _mm512_and_si512(_mm512_loadu_si512(hi + i), kh), kh);
			m |= (uint64_t) ok << (16 * k);
		}
		out[w] = m;
	}
}

const VectorKernels vk_avx512_kernels = {
	"avx512",
	VK_LEVEL_AVX512,
	f32L2SqAvx512,
	f32DotAvx512,
	f32L1Avx512,
	f32DotNormsAvx512,
	f32NormSqAvx512,
	f32L2SqBatchAvx512,
	f32DotBatchAvx512,
	f32DotRowsAvx512,
	bitHammingAvx512,
	bitAndOrCountAvx512,
	f16ToF32Avx512,
	f32ToF16Avx512,
	f16L2SqAvx512,
	f16DotAvx512,
	f16L1Avx512,
	f16DotNormsAvx512,
	f16L2SqBatchAvx512,
	f16DotBatchAvx512,
	rbqDotAvx512,
	rbqDotBatchAvx512,
	u32EqMaskAvx512,
	u32PairHasMaskAvx512
};

#endif							/* x86-64 */
