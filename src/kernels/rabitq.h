/*
 * rabitq.h
 *	  RaBitQ codes: a random rotation, B-bit codes with their factors, and
 *	  the estimate and always-valid lower bound of a distance from a code.
 *
 * Groundwork for walking the HNSW graph on compact codes and re-ranking
 * exactly.  A data vector x is centred on c (the index's data mean, or
 * zeros) and rotated: r = P(x - c), with P a fixed random orthogonal map of
 * R^dim into R^padded (padded = dim rounded up to a multiple of 64).  Each
 * coordinate of r is coded on B bits (1 <= B <= 8) as a level u_i in
 * [0, 2^B - 1]; the code stands for the vector w = u - m (m = (2^B - 1)/2),
 * times a scale.  Beside the code, RbqFactors keeps five floats: enough for
 * RaBitQ's estimator of <r, q'> and for a bound that always holds.
 *
 * A query is rotated the same way (centred for L2, not for inner product),
 * and quantised to 8-bit levels qu_i: q'_i = lo + delta * qu_i + eps_i.  The
 * integer <u, qu> is what the kernels compute (vk_active->rbq_dot_batch);
 * rbq_score turns it into the estimate and the lower bound.
 *
 * Like the rest of src/kernels/ this file uses no PostgreSQL header, and
 * nothing here allocates memory: callers pass buffers of the sizes the
 * *_size functions give.  Rotation, encoding and query preparation work in
 * double (see rabitq.c for why); only the code and its factors are stored.
 * Inputs must be finite (as every vector value is); dimensions go up to
 * RBQ_MAX_DIM.
 *
 * Sizes: a code is bits * padded / 8 bytes (128 dimensions: 16, 32, 64 and
 * 128 bytes at 1, 2, 4 and 8 bits; 1,536: 192 to 1,536), plus the 20 bytes
 * of RbqFactors; a query layout 2 * padded bytes.
 *
 * Layouts (all byte strings, no alignment required):
 *	code:	B bit planes of padded/8 bytes each, plane j first for j = 0..B-1;
 *			bit j of u_i is bit (i % 8) of byte i / 8 of plane j.  Except
 *			4 bits, for byte kernels (multiply-add of bytes): nibbles, per
 *			block of 128 coordinates 64 bytes, byte t holding u_t (low half)
 *			and u_(64+t) (high half); a last block of 64 coordinates (padded
 *			an odd multiple of 64) 32 bytes, byte t holding u_t and u_(32+t).
 *			And 2 bits: crumbs, per block of S = 256 coordinates (or the last
 *			64, 128 or 192) S/4 bytes, byte t holding u_t, u_(S/4+t),
 *			u_(S/2+t) and u_(3S/4+t) in its bits 0-1, 2-3, 4-5 and 6-7.
 *	query layout (rbq_query_layout_bytes = 2 * padded): padded bytes qu_i,
 *			then 8 bit planes of padded/8 bytes, plane k holding bit k of
 *			each qu_i, laid out like the code's planes.  The popcount
 *			kernels read the planes, the byte kernels the bytes.
 *
 * src/kernels/rabitq.h
 */
#ifndef VECTOR_RABITQ_H
#define VECTOR_RABITQ_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * nextafterf(f, -INFINITY), inline: the bounds of every scored candidate
 * round down with it, and the library call was 1.5 % of a query at 1,536
 * dimensions.  One step down in the float's bits: toward zero's
 * encoding for a positive f, away from it for a negative one, and from
 * either zero to the negative least subnormal; -Infinity and NaN stay.
 */
static inline float
rbq_float_below(float f)
{
	uint32_t	u;

	if (f != f || f == -INFINITY)
		return f;
	if (f == 0.0f)
		return -1.4e-45f;		/* -2^-149 */
	memcpy(&u, &f, sizeof(u));
	u = f > 0.0f ? u - 1 : u + 1;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* rotation rounds, as in bench/rabitq_study.py */
#define RBQ_ROUNDS			3
/* dimensions up to this (padded to 16,000 at most) */
#define RBQ_MAX_DIM			16000
#define RBQ_MAX_BITS		8

/*
 * The index's metrics, numbered as VecMetric in src/types/typeops.h (which
 * this file cannot include).  L2 is squared L2; IP is the negative inner
 * product -<x, q>; COSINE is 1 - <x, q>, the caller having normalised x and
 * q.  L1 has no RaBitQ estimator (it is not a function of inner products)
 * and is not supported.
 */
typedef enum RbqMetric
{
	RBQ_METRIC_L2 = 0,
	RBQ_METRIC_IP = 1,
	RBQ_METRIC_COSINE = 2
} RbqMetric;

/*
 * The rotation: rounds of {flip signs of all padded coordinates; orthonormal
 * Walsh-Hadamard transform of the first `block` coordinates; flip signs;
 * transform of the last `block`}, block the largest power of two <= padded.
 * The signs come from splitmix64 seeded with `seed`, so a seed gives the
 * same rotation everywhere.  Variable length: rbq_rotation_size(dim) bytes.
 */
typedef struct RbqRotation
{
	int32_t		dim;
	int32_t		padded;
	int32_t		block;
	int32_t		rounds;
	uint64_t	seed;
	/* 2 * rounds sign vectors of padded bits, bit set = negate */
	uint64_t	signs[];
} RbqRotation;

/*
 * What a code needs beside its bits (20 bytes).  With w = u - m:
 *	norm	|r|, rounded down (to float, from the double value)
 *	alpha	the scale that best fits the code to r (<r, w> / |w|^2, rounded
 *			to float); the bound uses this float value exactly
 *	wnorm	|w|, rounded up
 *	resid	|r - alpha w| for that float alpha, rounded up
 *	sum		sum of the u_i (an integer below 2^24: exact)
 * The estimator's scale |r|^2 / <r, w> is norm^2 / (alpha wnorm^2).
 */
typedef struct RbqFactors
{
	float		norm;
	float		alpha;
	float		wnorm;
	float		resid;
	float		sum;
} RbqFactors;

/*
 * A prepared query.  Variable length: rbq_query_size(padded) bytes; the
 * kernels take q->layout.
 */
typedef struct RbqQuery
{
	int32_t		padded;
	int32_t		bits;			/* of the codes it will be scored against */
	int32_t		metric;			/* RbqMetric */
	int32_t		sum_qu;			/* sum of qu_i */
	double		lo;				/* q'_i = lo + delta * qu_i + eps_i */
	double		delta;
	double		qnorm;			/* |q'| */
	double		eps_norm;		/* |eps|, from the double q' */
	double		center_dot;		/* <c, q> (IP and COSINE; 0 for L2) */
	double		center_slack;	/* bound on the rounding in center_dot */
	uint8_t		layout[];		/* rbq_query_layout_bytes(padded) */
} RbqQuery;

/* Padded dimension: dim rounded up to a multiple of 64. */
extern int	rbq_padded(int dim);

extern size_t rbq_rotation_size(int dim);
extern void rbq_rotation_init(RbqRotation *rot, int dim, uint64_t seed);

/* r = P(in - center), center NULL for zeros; out has padded elements. */
extern void rbq_rotate_double(const RbqRotation *rot, const float *in,
							  const float *center, double *out);
/* the same in float, for tests and tools (a 128 kB double buffer on the stack) */
extern void rbq_rotate(const RbqRotation *rot, const float *in, float *out);
/* P^T: padded doubles in, dim doubles out (the same stack buffer) */
extern void rbq_rotate_inverse(const RbqRotation *rot, const double *in,
							   double *out);

/* bits * padded / 8 */
extern size_t rbq_code_bytes(int padded, int bits);

/* Scratch for rbq_encode and rbq_query_prepare, in bytes. */
extern size_t rbq_work_size(int padded);

/*
 * Code of x (dim floats) centred on center (NULL for zeros): writes
 * rbq_code_bytes(padded, bits) bytes at code, and *f.  work: rbq_work_size.
 */
extern void rbq_encode(const RbqRotation *rot, const float *x,
					   const float *center, int bits, void *work,
					   uint8_t *code, RbqFactors *f);

/*
 * The same from an already rotated r (padded doubles); the scale search
 * and the factors.  work: rbq_work_size(padded).
 */
extern void rbq_encode_rotated(const double *r, int padded, int bits,
							   void *work, uint8_t *code, RbqFactors *f);

/* The levels u_i (padded bytes) of a code: the inverse of its packing. */
extern void rbq_code_levels(const uint8_t *code, int padded, int bits, uint8_t *u);

extern size_t rbq_query_layout_bytes(int padded);
extern size_t rbq_query_size(int padded);

/*
 * Prepare query q (dim floats) for codes of `bits` bits made with center
 * (NULL for zeros) under metric.  work: rbq_work_size(padded).
 */
extern void rbq_query_prepare(const RbqRotation *rot, RbqMetric metric,
							  int bits, const float *center, const float *q,
							  void *work, RbqQuery *out);

/*
 * The same from an already rotated q' (padded doubles: centred for L2);
 * center_dot and center_slack are left 0 for the caller to set.
 */
extern void rbq_query_prepare_rotated(const double *qr, int padded,
									  RbqMetric metric, int bits,
									  RbqQuery *out);

/* The query layout from levels qu (padded bytes). */
extern void rbq_query_layout_fill(const uint8_t *qu, int padded,
								  uint8_t *layout);

/*
 * From dot = <u, qu> (a kernel's result for this code): *estimate, RaBitQ's
 * estimate of the distance, and *lower, a value never above the exact
 * distance of the original vectors (see rabitq.c for the derivation).
 */
extern void rbq_score(const RbqQuery *q, const RbqFactors *f, int32_t dot,
					  float *estimate, float *lower);

/* rbq_score's *estimate alone, the same float, for less than half the work */
extern float rbq_estimate(const RbqQuery *q, const RbqFactors *f, int32_t dot);

/*
 * The standard error of rbq_estimate's distance, from RaBitQ's analysis of
 * its estimator (not a bound: the error exceeds it about a third of the
 * time, and k of it with the normal tail's odds).  +Infinity for a code
 * with no direction.
 */
extern double rbq_estimate_sigma(const RbqQuery *q, const RbqFactors *f);

#endif							/* VECTOR_RABITQ_H */
