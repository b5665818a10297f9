/*
 * f16.h
 *	  Portable IEEE 754 binary16 ("half") <-> binary32 conversion of one value.
 *
 * binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits.  The
 * largest finite value is 65504, the smallest normal 2^-14, the smallest
 * subnormal 2^-24.  These two functions are the reference the F16C and
 * AVX-512 conversions are tested against (test/kernels), and what the
 * scalar kernels and the halfvec SQL functions use for single elements.
 * No PostgreSQL and no intrinsics here: kernels.c includes it.
 *
 * src/kernels/f16.h
 */
#ifndef VECTOR_F16_H
#define VECTOR_F16_H

#include <stdint.h>
#include <string.h>

#define VK_F16_MAX		65504.0f
#define VK_F16_INF		0x7c00

/* Exact: every half is a float. */
static inline float
vk_f16_to_f32(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	frac = h & 0x3ff;
	uint32_t	bits;
	float		f;

	if (exp == 0x1f)
	{
		/* infinity, or NaN (made quiet, as the hardware does) */
		bits = sign | 0x7f800000 | (frac << 13);
		if (frac != 0)
			bits |= 0x00400000;
	}
	else if (exp != 0)
		bits = sign | ((exp + (127 - 15)) << 23) | (frac << 13);
	else
	{
		/* zero or subnormal: frac * 2^-24, exact in float */
		f = (float) frac * 0x1p-24f;
		return sign ? -f : f;
	}
	memcpy(&f, &bits, sizeof(f));
	return f;
}

/*
 * Round to nearest, ties to even, as VCVTPS2PH with imm 0 does: values of
 * magnitude 65520 and up become infinity, those below 2^-14 become
 * subnormals (or a signed zero at 2^-25 and below), NaN stays NaN.
 */
static inline uint16_t
vk_f32_to_f16(float f)
{
	uint32_t	x;
	uint32_t	sign;
	uint32_t	ax;
	uint32_t	q;
	uint32_t	rem;
	uint32_t	halfway;
	int			shift;

	memcpy(&x, &f, sizeof(x));
	sign = (x >> 16) & 0x8000;
	ax = x & 0x7fffffff;

	if (ax >= 0x7f800000)
	{
		/* infinity; NaN keeps its top fraction bits and is made quiet */
		if (ax == 0x7f800000)
			return (uint16_t) (sign | VK_F16_INF);
		return (uint16_t) (sign | VK_F16_INF | 0x200 | ((ax >> 13) & 0x3ff));
	}
	if (ax >= 0x477ff000)		/* 65520: halfway to 2^16, rounds up */
		return (uint16_t) (sign | VK_F16_INF);
	if (ax < 0x38800000)		/* below 2^-14: a subnormal half or zero */
	{
		uint32_t	exp = ax >> 23;
		uint32_t	mant;

		if (exp < 102)			/* below 2^-25: rounds to zero */
			return (uint16_t) sign;
		/* value = mant * 2^(exp - 150); in units of 2^-24: mant >> (126 - exp) */
		mant = (ax & 0x7fffff) | 0x800000;
		shift = 126 - (int) exp;	/* 14 .. 24 */
		q = mant >> shift;
		rem = mant & ((UINT32_C(1) << shift) - 1);
		halfway = UINT32_C(1) << (shift - 1);
		/* a carry out of the fraction makes the smallest normal: correct */
		if (rem > halfway || (rem == halfway && (q & 1)))
			q++;
		return (uint16_t) (sign | q);
	}
	/* normal: rebias the exponent, keep 10 of the 23 fraction bits */
	ax -= (uint32_t) (127 - 15) << 23;
	q = ax >> 13;
	rem = ax & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
		q++;					/* a carry into the exponent is correct too */
	return (uint16_t) (sign | q);
}

#endif							/* VECTOR_F16_H */
