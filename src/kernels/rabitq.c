/*
 * rabitq.c
 *	  RaBitQ codes: rotation, encoding, query preparation and scoring.
 *
 * Portable C without intrinsics (the rotation uses the compiler's vector
 * types where it has them): the rotation runs once per query and once per
 * inserted vector, and the inner products over codes are the kernels' job
 * (rbq_dot / rbq_dot_batch in kernels.h).
 *
 * Everything before storage works in double.  That is what makes the lower
 * bound of rbq_score cheap to prove: the rotation, the code's fit and the
 * query's quantisation then carry relative errors near 2^-40 at most, far
 * below the float rounding of the stored factors, which is directed (each
 * factor rounded the way that keeps the bound valid).  The derivation is at
 * rbq_score.
 *
 * src/kernels/rabitq.c
 */
#include "kernels.h"
#include "rabitq.h"

#include <math.h>
#include <string.h>

/*
 * Relative slack for double rounding.  Every double error below is at most
 * about 2^-39 of the norms it multiplies (sums of at most 16,384 terms:
 * n * 2^-53 <= 2^-39; the rotation: 6 transforms of at most 14 butterfly
 * stages plus a scaling, each stage adding a relative error of 2^-53 to the
 * vector's norm, so under 2^-46), so 2^-30 leaves a margin of 2^9.
 */
#define RBQ_SLACK		(1.0 / 1073741824.0)	/* 2^-30 */
/*
 * |t| = |<e, w^>| = |alpha_exact - alpha| |w|: the double alpha is within
 * 2^-38 of alpha_exact (sum r_i w_i has no cancellation: w_i has the sign
 * of r_i), and the float within 2^-24 of that, or 2^-150 when subnormal;
 * about twice that.
 */
#define RBQ_TILT		(1.0 / 4194304.0)	/* 2^-22 */
#define RBQ_TILT_MIN	1.4e-45			/* 2^-149 */
/* absolute slack on the last subtraction of IP and COSINE */
#define RBQ_SLACK_ULP	(1.0 / 1125899906842624.0)	/* 2^-50 */

/* float at or below d (at or above for roundUpFloat); NaN stays NaN */
static float
roundDownFloat(double d)
{
	float		f = (float) d;

	if ((double) f > d)
		f = rbq_float_below(f);
	return f;
}

static float
roundUpFloat(double d)
{
	float		f = (float) d;

	if ((double) f < d)
		f = nextafterf(f, INFINITY);
	return f;
}

int
rbq_padded(int dim)
{
	return (dim + 63) / 64 * 64;
}

static int
signWords(int padded)
{
	return padded / 64;
}

size_t
rbq_rotation_size(int dim)
{
	return sizeof(RbqRotation) +
		sizeof(uint64_t) * 2 * RBQ_ROUNDS * (size_t) signWords(rbq_padded(dim));
}

void
rbq_rotation_init(RbqRotation *rot, int dim, uint64_t seed)
{
	int			padded = rbq_padded(dim);
	int			nwords = 2 * RBQ_ROUNDS * signWords(padded);
	uint64_t	state = seed;
	int			block = 1;
	int			i;

	while (block * 2 <= padded)
		block *= 2;
	rot->dim = dim;
	rot->padded = padded;
	rot->block = block;
	rot->rounds = RBQ_ROUNDS;
	rot->seed = seed;
	for (i = 0; i < nwords; i++)
		rot->signs[i] = vk_splitmix64(&state);
}

/*
 * The rotation works on RBQ_LANES doubles at a time where the compiler has
 * vector types (GCC and Clang: SSE2 or NEON pairs, without any ISA flag);
 * elsewhere the same code runs on plain doubles.  Lane arithmetic is the
 * same IEEE operation per element, so the results are the same bits.
 */
#if defined(__GNUC__)
#define RBQ_LANES	4
typedef double RbqLane __attribute__((vector_size(32)));
typedef uint64_t RbqLaneBits __attribute__((vector_size(32)));
static const RbqLaneBits rbqLaneIndex = {0, 1, 2, 3};
#else
#define RBQ_LANES	1
typedef double RbqLane;
typedef uint64_t RbqLaneBits;
static const RbqLaneBits rbqLaneIndex = 0;
#endif

/*
 * Negate the coordinates whose bit is set in signs (padded bits, a multiple
 * of 64).  The bit goes straight into each double's sign bit, which is all
 * a negation does, without a branch: the signs are random, and a branch on
 * them mispredicted half the time (most of a rotation's time at 1,536
 * dimensions).
 */
static void
flipSigns(double *v, const uint64_t *signs, int padded)
{
	for (int w = 0; w < padded / 64; w++)
		for (int b = 0; b < 64; b += RBQ_LANES)
		{
			/* the lanes' sign bits, each in its lane's bit 0 */
			RbqLaneBits s = (signs[w] >> b) + rbqLaneIndex * 0;
			RbqLaneBits u;

			memcpy(&u, &v[64 * w + b], sizeof(u));
			u ^= ((s >> rbqLaneIndex) & 1) << 63;
			memcpy(&v[64 * w + b], &u, sizeof(u));
		}
}

/*
 * Orthonormal Walsh-Hadamard transform of n (a power of two, at least 64)
 * doubles in place: the butterflies, then one scaling by 1/sqrt(n).  Only
 * additions and one multiplication per element, so the result is the same
 * bits on every IEEE platform (nothing here can be contracted into an FMA).
 *
 * Stages h and 2h go in one pass over four elements at a time (j, j + h,
 * j + 2h, j + 3h): the same additions on the same operands as two passes,
 * so the same bits, with half the loads and stores.  From h = 4 on the
 * elements j .. j + RBQ_LANES - 1 go through one lane.
 */
static void
hadamard(double *v, int n)
{
	double		scale = 1.0 / sqrt((double) n);
	int			h;

	/* stages 1 and 2, within each four elements */
	for (int i = 0; i < n; i += 4)
	{
		double		b0 = v[i] + v[i + 1];
		double		b1 = v[i] - v[i + 1];
		double		b2 = v[i + 2] + v[i + 3];
		double		b3 = v[i + 2] - v[i + 3];

		v[i] = b0 + b2;
		v[i + 2] = b0 - b2;
		v[i + 1] = b1 + b3;
		v[i + 3] = b1 - b3;
	}
	for (h = 4; 4 * h <= n; h *= 4)
		for (int i = 0; i < n; i += 4 * h)
			for (int j = i; j < i + h; j += RBQ_LANES)
			{
				RbqLane		a0,
							a1,
							a2,
							a3,
							b0,
							b1,
							b2,
							b3;

				memcpy(&a0, &v[j], sizeof(RbqLane));
				memcpy(&a1, &v[j + h], sizeof(RbqLane));
				memcpy(&a2, &v[j + 2 * h], sizeof(RbqLane));
				memcpy(&a3, &v[j + 3 * h], sizeof(RbqLane));
				b0 = a0 + a1;
				b1 = a0 - a1;
				b2 = a2 + a3;
				b3 = a2 - a3;
				a0 = b0 + b2;
				a2 = b0 - b2;
				a1 = b1 + b3;
				a3 = b1 - b3;
				memcpy(&v[j], &a0, sizeof(RbqLane));
				memcpy(&v[j + h], &a1, sizeof(RbqLane));
				memcpy(&v[j + 2 * h], &a2, sizeof(RbqLane));
				memcpy(&v[j + 3 * h], &a3, sizeof(RbqLane));
			}
	/* an odd number of stages leaves the last one (h = n / 2) */
	if (h < n)
		for (int j = 0; j < h; j += RBQ_LANES)
		{
			RbqLane		a,
						b,
						sum,
						diff;

			memcpy(&a, &v[j], sizeof(RbqLane));
			memcpy(&b, &v[j + h], sizeof(RbqLane));
			sum = a + b;
			diff = a - b;
			memcpy(&v[j], &sum, sizeof(RbqLane));
			memcpy(&v[j + h], &diff, sizeof(RbqLane));
		}
	for (int i = 0; i < n; i += RBQ_LANES)
	{
		RbqLane		a;

		memcpy(&a, &v[i], sizeof(RbqLane));
		a *= scale;
		memcpy(&v[i], &a, sizeof(RbqLane));
	}
}

static void
rotateInPlace(const RbqRotation *rot, double *v)
{
	int			words = signWords(rot->padded);
	int			p = rot->padded;
	int			k = rot->block;
	int			round;

	for (round = 0; round < rot->rounds; round++)
	{
		flipSigns(v, rot->signs + (2 * round) * words, p);
		hadamard(v, k);
		flipSigns(v, rot->signs + (2 * round + 1) * words, p);
		hadamard(v + (p - k), k);
	}
}

void
rbq_rotate_double(const RbqRotation *rot, const float *in,
				  const float *center, double *out)
{
	int			i;

	/* the difference of two floats in double is exact but for huge gaps */
	for (i = 0; i < rot->dim; i++)
		out[i] = (double) in[i] - (center ? (double) center[i] : 0.0);
	for (; i < rot->padded; i++)
		out[i] = 0.0;
	rotateInPlace(rot, out);
}

/*
 * Float in and out, for tests and tools: the same double transform, then
 * rounded.  The double buffer lives on the stack (128 kB at most); the
 * codec itself goes through rbq_rotate_double with the caller's work area.
 */
void
rbq_rotate(const RbqRotation *rot, const float *in, float *out)
{
	double		buf[RBQ_MAX_DIM + 64];
	int			i;

	rbq_rotate_double(rot, in, NULL, buf);
	for (i = 0; i < rot->padded; i++)
		out[i] = (float) buf[i];
}

void
rbq_rotate_inverse(const RbqRotation *rot, const double *in, double *out)
{
	double		buf[RBQ_MAX_DIM + 64];
	int			words = signWords(rot->padded);
	int			p = rot->padded;
	int			k = rot->block;
	int			round;

	memcpy(buf, in, sizeof(double) * p);
	/* each step is its own inverse (H is symmetric and orthogonal) */
	for (round = rot->rounds - 1; round >= 0; round--)
	{
		hadamard(buf + (p - k), k);
		flipSigns(buf, rot->signs + (2 * round + 1) * words, p);
		hadamard(buf, k);
		flipSigns(buf, rot->signs + (2 * round) * words, p);
	}
	memcpy(out, buf, sizeof(double) * rot->dim);
}

size_t
rbq_code_bytes(int padded, int bits)
{
	return (size_t) bits * (size_t) padded / 8;
}

size_t
rbq_work_size(int padded)
{
	return sizeof(double) * (size_t) padded + 2 * (size_t) padded;
}

/*
 * floor(x) clamped to [0, top], for |x| < 2^31: truncation is floor
 * except on (-1, 0) and below, which the clamp takes to 0 either way.  A
 * conversion and two integer compares that compile to conditional moves,
 * where floor is a long sequence without SSE4.1 and the clamps on doubles
 * were branches that the levels' random signs mispredict.
 */
static inline int
levelOf(double x, int top)
{
	int			k = (int) x;

	k = k < 0 ? 0 : k;
	return k > top ? top : k;
}

/* Levels of r for step s: the nearest of the 2^bits levels (u - m) * s. */
static void
quantiseLevels(const double *r, int padded, int bits, double step,
			   uint8_t *u)
{
	int			levels = 1 << bits;
	double		inv = 1.0 / step;
	double		half = (double) (levels / 2);
	int			i;

	for (i = 0; i < padded; i++)
		u[i] = (uint8_t) levelOf(r[i] * inv + half, levels - 1);
}

/*
 * <r, w> / |w| for the levels quantiseLevels gives r at step s, without
 * storing them: the cosine of r and that code, times |r|.  Four partial
 * sums of <r, w>, element i into sum i % 4, added in a fixed order, so
 * that the chain of additions is a quarter as long and the result the
 * same on every machine; where the compiler has vector types the four
 * sums are the lanes of one, each lane doing what the scalar loop does.
 * <w, w> is exact in any order: each w_i^2 is a multiple of 1/4 below
 * 2^16.  chooseLevels calls this 67 times per code, most of an encode's
 * time: in lanes, a 4-bit code of 1,536 dimensions took 113 microseconds
 * against 164 (rotation included), with the same codes.
 */
#if RBQ_LANES == 4
typedef int32_t RbqLaneInt __attribute__((vector_size(16)));

static double
stepFit(const double *r, int padded, int bits, double step)
{
	int			top = (1 << bits) - 1;
	double		inv = 1.0 / step;
	double		half = (double) ((top + 1) / 2);
	double		m = top / 2.0;
	RbqLane		vinv = {inv, inv, inv, inv};
	RbqLane		vhalf = {half, half, half, half};
	RbqLane		vm = {m, m, m, m};
	RbqLaneInt	vtop = {top, top, top, top};
	RbqLane		rw = {0.0, 0.0, 0.0, 0.0};
	RbqLane		ww = {0.0, 0.0, 0.0, 0.0};

	/* padded is a multiple of 64; |r_i| / step is at most m / 0.1 */
	for (int i = 0; i < padded; i += 4)
	{
		RbqLane		x;
		RbqLane		w;
		RbqLaneInt	k;

		memcpy(&x, &r[i], sizeof(x));
		/* levelOf, lane by lane: truncate, then clamp to [0, top] */
		k = __builtin_convertvector(x * vinv + vhalf, RbqLaneInt);
		k &= ~(k < 0);
		k = (k & ~(k > vtop)) | (vtop & (k > vtop));
		w = __builtin_convertvector(k, RbqLane) - vm;
		rw += x * w;
		ww += w * w;
	}
	return ((rw[0] + rw[1]) + (rw[2] + rw[3])) / sqrt((ww[0] + ww[1]) + (ww[2] + ww[3]));
}
#else
static double
stepFit(const double *r, int padded, int bits, double step)
{
	int			top = (1 << bits) - 1;
	double		inv = 1.0 / step;
	double		half = (double) ((top + 1) / 2);
	double		m = top / 2.0;
	double		rw0 = 0.0,
				rw1 = 0.0,
				rw2 = 0.0,
				rw3 = 0.0,
				ww = 0.0;

	/* padded is a multiple of 64; |r_i| / step is at most m / 0.1 */
	for (int i = 0; i < padded; i += 4)
	{
		double		w0 = levelOf(r[i] * inv + half, top) - m;
		double		w1 = levelOf(r[i + 1] * inv + half, top) - m;
		double		w2 = levelOf(r[i + 2] * inv + half, top) - m;
		double		w3 = levelOf(r[i + 3] * inv + half, top) - m;

		rw0 += r[i] * w0;
		rw1 += r[i + 1] * w1;
		rw2 += r[i + 2] * w2;
		rw3 += r[i + 3] * w3;
		ww += (w0 * w0 + w1 * w1) + (w2 * w2 + w3 * w3);
	}
	return ((rw0 + rw1) + (rw2 + rw3)) / sqrt(ww);
}
#endif

/*
 * Choose the levels u of r.  One bit: the signs.  More: the step that
 * maximises the cosine of r and the code, searched as in
 * bench/rabitq_study.py on the outermost level's place as a fraction of
 * max |r_i| (0.1 to 1 by 0.02), then refined by 0.002 around the best.
 * Ties keep the first candidate, so the result is deterministic.  At 4
 * bits and 1,536 dimensions this search was half of a build's time while
 * it stored each candidate's levels and then summed them in one chain.
 */
static void
chooseLevels(const double *r, int padded, int bits, uint8_t *u)
{
	double		m = ((1 << bits) - 1) / 2.0;
	double		top = 0.0;
	double		best = -INFINITY;
	double		bestFrac = 1.0;
	double		bestStep = 0.0;
	int			i,
				pass;

	for (i = 0; i < padded; i++)
		if (fabs(r[i]) > top)
			top = fabs(r[i]);

	if (bits == 1 || top == 0.0)
	{
		/* top == 0: r is zero, any code fits; take w = +1/2 everywhere */
		for (i = 0; i < padded; i++)
			u[i] = (r[i] >= 0.0) ? (uint8_t) (1 << (bits - 1)) : (uint8_t) 0;
		return;
	}

	for (pass = 0; pass < 2; pass++)
	{
		double		from = pass == 0 ? 0.1 : bestFrac - 0.02;
		double		by = pass == 0 ? 0.02 : 0.002;
		int			n = pass == 0 ? 46 : 21;

		for (i = 0; i < n; i++)
		{
			double		frac = from + by * i;
			double		step,
						fit;

			if (frac <= 0.0)
				continue;
			step = top * frac / m;
			fit = stepFit(r, padded, bits, step);
			if (fit > best)
			{
				best = fit;
				bestStep = step;
				if (pass == 0)
					bestFrac = frac;
			}
		}
	}
	quantiseLevels(r, padded, bits, bestStep, u);
}

/* Pack levels u into bits bit planes (layout in rabitq.h). */
static void
packPlanes(const uint8_t *u, int padded, int bits, uint8_t *out)
{
	int			planeBytes = padded / 8;

	/*
	 * Eight levels at a time, one per byte of x; bit j of each byte,
	 * masked into place, is gathered into the top byte by one multiply
	 * (byte b's bit lands at 56 + b, and no two terms overlap).  A bit at
	 * a time, with a branch on each, was most of a query's preparation.
	 */
	for (int t = 0; t < planeBytes; t++)
	{
		uint64_t	x = 0;

		for (int b = 0; b < 8; b++)
			x |= (uint64_t) u[8 * t + b] << (8 * b);
		for (int j = 0; j < bits; j++)
		{
			uint64_t	p = (x >> j) & UINT64_C(0x0101010101010101);

			out[j * planeBytes + t] = (uint8_t) ((p * UINT64_C(0x0102040810204080)) >> 56);
		}
	}
}

/*
 * Pack 4-bit levels as nibbles (layout in rabitq.h): per block of 128
 * coordinates, byte t holds u_t in its low and u_(64+t) in its high half;
 * a last block of 64 holds u_t and u_(32+t).  A byte kernel then takes the
 * low halves of a vector of code bytes against one run of query bytes and
 * the high halves against the run 64 (or 32) coordinates on.
 */
static void
packNibbles(const uint8_t *u, int padded, uint8_t *out)
{
	int			base,
				t;

	for (base = 0; base < padded; base += 128)
	{
		int			half = (padded - base >= 128) ? 64 : 32;
		uint8_t    *o = out + base / 2;

		for (t = 0; t < half; t++)
			o[t] = (uint8_t) ((u[base + t] & 15) | ((u[base + half + t] & 15) << 4));
	}
}

/*
 * Pack 2-bit levels as crumbs (layout in rabitq.h): per block of 256
 * coordinates (or the last 64, 128 or 192), S coordinates in S/4 bytes,
 * byte t holds u_t, u_(S/4+t), u_(S/2+t) and u_(3S/4+t) from its low bits
 * up, so that each quarter of the block meets one run of query bytes.
 */
static void
packCrumbs(const uint8_t *u, int padded, uint8_t *out)
{
	int			base,
				t;

	for (base = 0; base < padded; base += 256)
	{
		int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
		const uint8_t *v = u + base;
		uint8_t    *o = out + base / 4;

		for (t = 0; t < quarter; t++)
			o[t] = (uint8_t) ((v[t] & 3) | ((v[quarter + t] & 3) << 2) |
							  ((v[2 * quarter + t] & 3) << 4) |
							  ((v[3 * quarter + t] & 3) << 6));
	}
}

void
rbq_encode_rotated(const double *r, int padded, int bits, void *work,
				   uint8_t *code, RbqFactors *f)
{
	uint8_t    *u = (uint8_t *) work;
	double		m = ((1 << bits) - 1) / 2.0;
	double		rw = 0.0,
				ww = 0.0,
				rr = 0.0,
				ee = 0.0;
	long		sum = 0;
	float		alpha;
	double		rnorm;
	int			i;

	chooseLevels(r, padded, bits, u);
	for (i = 0; i < padded; i++)
	{
		double		w = (double) u[i] - m;

		rw += r[i] * w;
		ww += w * w;			/* quarter integers: exact */
		rr += r[i] * r[i];
		sum += u[i];
	}
	/* ww >= padded / 4 > 0: every w_i is at least 1/2 away from 0 */
	alpha = (float) (rw / ww);

	/*
	 * The residual against the float alpha actually stored, so that
	 * r = alpha w + e holds for the stored alpha and rounding alpha costs
	 * the bound nothing.  Each e_i carries a rounding of at most 2^-52 of
	 * |r_i| + |alpha w_i|, the sum of squares 2^-39 of itself: the margins
	 * below cover both.
	 */
	for (i = 0; i < padded; i++)
	{
		double		e = r[i] - (double) alpha * ((double) u[i] - m);

		ee += e * e;
	}
	rnorm = sqrt(rr);
	f->norm = roundDownFloat(rnorm * (1.0 - RBQ_SLACK));
	f->alpha = alpha;
	f->wnorm = roundUpFloat(sqrt(ww) * (1.0 + RBQ_SLACK));
	f->resid = roundUpFloat(sqrt(ee) * (1.0 + RBQ_SLACK) + rnorm * RBQ_SLACK);
	f->sum = (float) sum;
	if (bits == 4)
		packNibbles(u, padded, code);
	else if (bits == 2)
		packCrumbs(u, padded, code);
	else
		packPlanes(u, padded, bits, code);
}

void
rbq_code_levels(const uint8_t *code, int padded, int bits, uint8_t *u)
{
	int			base,
				t,
				i,
				j;

	if (bits == 4)
	{
		for (base = 0; base < padded; base += 128)
		{
			int			half = (padded - base >= 128) ? 64 : 32;
			const uint8_t *o = code + base / 2;

			for (t = 0; t < half; t++)
			{
				u[base + t] = o[t] & 15;
				u[base + half + t] = o[t] >> 4;
			}
		}
	}
	else if (bits == 2)
	{
		for (base = 0; base < padded; base += 256)
		{
			int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
			const uint8_t *o = code + base / 4;

			for (t = 0; t < quarter; t++)
				for (j = 0; j < 4; j++)
					u[base + j * quarter + t] = (o[t] >> (2 * j)) & 3;
		}
	}
	else
	{
		int			planeBytes = padded / 8;

		for (i = 0; i < padded; i++)
		{
			uint8_t		v = 0;

			for (j = 0; j < bits; j++)
				v |= (uint8_t) (((code[j * planeBytes + i / 8] >> (i % 8)) & 1) << j);
			u[i] = v;
		}
	}
}

void
rbq_encode(const RbqRotation *rot, const float *x, const float *center,
		   int bits, void *work, uint8_t *code, RbqFactors *f)
{
	double	   *r = (double *) work;

	rbq_rotate_double(rot, x, center, r);
	rbq_encode_rotated(r, rot->padded, bits, r + rot->padded, code, f);
}

size_t
rbq_query_layout_bytes(int padded)
{
	return 2 * (size_t) padded;
}

size_t
rbq_query_size(int padded)
{
	return sizeof(RbqQuery) + rbq_query_layout_bytes(padded);
}

void
rbq_query_layout_fill(const uint8_t *qu, int padded, uint8_t *layout)
{
	memcpy(layout, qu, padded);
	packPlanes(qu, padded, 8, layout + padded);
}

void
rbq_query_prepare_rotated(const double *qr, int padded, RbqMetric metric,
						  int bits, RbqQuery *out)
{
	uint8_t    *qu = out->layout;	/* the bytes come first in the layout */
	double		lo = qr[0],
				hi = qr[0];
	double		delta;
	double		qq = 0.0,
				ee = 0.0;
	int32_t		sum = 0;
	int			i;

	for (i = 1; i < padded; i++)
	{
		if (qr[i] < lo)
			lo = qr[i];
		if (qr[i] > hi)
			hi = qr[i];
	}
	delta = (hi - lo) / 255.0;
	for (i = 0; i < padded; i++)
	{
		double		k = 0.0;
		double		e;

		/* the argument is at least 1/2: floor is truncation */
		if (delta > 0.0)
			k = levelOf((qr[i] - lo) / delta + 0.5, 255);
		qu[i] = (uint8_t) k;
		sum += qu[i];
		e = qr[i] - (lo + delta * k);
		ee += e * e;
		qq += qr[i] * qr[i];
	}
	packPlanes(qu, padded, 8, out->layout + padded);

	out->padded = padded;
	out->bits = bits;
	out->metric = (int32_t) metric;
	out->sum_qu = sum;
	out->lo = lo;
	out->delta = delta;
	out->qnorm = sqrt(qq);
	out->eps_norm = sqrt(ee);
	out->center_dot = 0.0;
	out->center_slack = 0.0;
}

void
rbq_query_prepare(const RbqRotation *rot, RbqMetric metric, int bits,
				  const float *center, const float *q, void *work,
				  RbqQuery *out)
{
	double	   *qr = (double *) work;

	rbq_rotate_double(rot, q, metric == RBQ_METRIC_L2 ? center : NULL, qr);
	rbq_query_prepare_rotated(qr, rot->padded, metric, bits, out);

	/*
	 * <x, q> = <c, q> + <x - c, q>: inner products rotate q without
	 * centring it and add <c, q>.  Each c_i q_i is exact in double (two
	 * 24-bit mantissas); the sum of at most 16,000 terms errs by at most
	 * 2^-39 of sum |c_i q_i|, which center_slack covers.
	 */
	if (metric != RBQ_METRIC_L2 && center != NULL)
	{
		double		dot = 0.0,
					mag = 0.0;
		int			i;

		for (i = 0; i < rot->dim; i++)
		{
			double		t = (double) center[i] * (double) q[i];

			dot += t;
			mag += fabs(t);
		}
		out->center_dot = dot;
		out->center_slack = mag * RBQ_SLACK;
	}
}

/* <w, q^> from the integer dot: see rbq_score */
static inline double
codeQueryDot(const RbqQuery *q, const RbqFactors *f, int32_t dot)
{
	double		m = ((1 << q->bits) - 1) / 2.0;

	return q->delta * ((double) dot - m * (double) q->sum_qu) +
		q->lo * ((double) f->sum - m * (double) q->padded);
}

/* RaBitQ's estimate of the distance, from wq = <w, q^>: see rbq_score */
static inline double
estimateOf(const RbqQuery *q, const RbqFactors *f, double wq)
{
	double		norm = f->norm;
	double		alpha = f->alpha;
	double		wnorm = f->wnorm;
	double		estIp = 0.0;

	if (alpha != 0.0)
		estIp = wq * (norm * norm) / (alpha * wnorm * wnorm);
	switch ((RbqMetric) q->metric)
	{
		case RBQ_METRIC_L2:
			return norm * norm + q->qnorm * q->qnorm - 2.0 * estIp;
		case RBQ_METRIC_IP:
			return -q->center_dot - estIp;
		default:
			return 1.0 - q->center_dot - estIp;
	}
}

float
rbq_estimate(const RbqQuery *q, const RbqFactors *f, int32_t dot)
{
	return (float) estimateOf(q, f, codeQueryDot(q, f, dot));
}

/*
 * By RaBitQ's analysis (Gao & Long, SIGMOD 2024, section 3.2), with the
 * rotation random, the estimate of <r, q'> errs by about |r| |q'|
 * sqrt(1 - c^2) / c / sqrt(padded), nearly normally, where c = <r, w^> /
 * |r|, about proj / |r|: that is resid |q'| (|r| / proj) / sqrt(padded).
 * The query's rounding eps adds <w^, eps> |r|^2 / proj, about
 * |eps| |r| (|r| / proj) / sqrt(padded).
 */
double
rbq_estimate_sigma(const RbqQuery *q, const RbqFactors *f)
{
	double		proj = fabs((double) f->alpha) * f->wnorm;
	double		ip;

	if (!(proj > 0.0))
		return INFINITY;
	ip = ((double) f->resid * q->qnorm + q->eps_norm * f->norm) *
		((double) f->norm / proj) / sqrt((double) q->padded);
	/* |x - q|^2 counts <r, q'> twice */
	return q->metric == RBQ_METRIC_L2 ? 2.0 * ip : ip;
}

/*
 * The estimate and the lower bound of one distance.
 *
 * Notation: r = P(x - c) and q' = P(q - c) (L2; P q for IP and COSINE) are
 * the exact rotated vectors, r_d and q_d the doubles we computed for them;
 * w = u - m the code's vector and w^ = w / |w|; q^ = lo + delta qu the
 * quantised query and eps = q_d - q^ its error; alpha the stored float and
 * e = r_d - alpha w.
 *
 * Estimate (RaBitQ's unbiased estimator): <r, q'> ~ <w, q^> |r|^2 / <r, w>.
 *
 * Bound: r_d = alpha w + e and q_d = q^ + eps are identities, and q_d =
 * b w^ + q_perp with b = <w^, q_d> and q_perp orthogonal to w, so
 *	<r_d, q_d> = alpha <w, q^> + alpha <w, eps> + b <e, w^> + <e, q_perp>
 *			  <= alpha <w, q^> + |alpha| |w| |eps| + |q_d| |t| + |e| |q_perp|
 * by Cauchy-Schwarz, with no probability involved; t = <e, w^> is zero for
 * the best alpha and at most 2^-23 |alpha| |w| for its float rounding.
 * |q_perp|^2 = |q_d|^2 - b^2, and |b| >= |<w, q^>| / |w| - |eps|: near
 * neighbours, whose queries lie close to the code's direction, get a
 * smaller residual term than the plain |e| |q_d|.  wnorm >= |w| and
 * resid >= |e| were rounded up at encoding; <w, q^> = delta (<u, qu> -
 * m sum qu) + lo (sum u - m padded) from the integer dot.
 *
 * What is left is rounding, in double: |r_d - r| and |q_d - q'| are at most
 * 2^-46 of the norms (the rotation), the error of <w, q^> at most 2^-43
 * |w| |q_d|, that of eps_norm 2^-44 |q_d|.  b's lower bound takes those
 * off, the radicand of |q_perp| gets 2^-30 of |q_d|^2 on top (else the
 * rounding of a difference of near-equal squares would, through the square
 * root, grow to 2^-26 of |q_d|), and RBQ_SLACK (proj + resid) |q_d| is
 * added to the sum (|r_d| <= proj + resid, proj = |alpha| wnorm).  That
 * gives U >= <r, q'>.  Then
 *	L2:		|x - q|^2 = |r|^2 + |q'|^2 - 2 <r, q'>
 *			>= norm^2 + qnorm^2 - 2 U - RBQ_SLACK (|r_d|^2 + qnorm^2)
 *			(norm was rounded down from |r_d| (1 - 2^-30)), and >= 0;
 *	IP:		-<x, q> = -<c, q> - <r, q'> >= -center_dot - center_slack - U;
 *	COSINE:	1 - <x, q>, the same plus one;
 * each less 2^-50 of the magnitudes for the last double subtractions, and
 * rounded down to float.  A caller that compares with a distance computed
 * in float must allow for that computation's own error too.
 */
void
rbq_score(const RbqQuery *q, const RbqFactors *f, int32_t dot,
		  float *estimate, float *lower)
{
	double		norm = f->norm;
	double		alpha = f->alpha;
	double		wnorm = f->wnorm;
	double		qnorm = q->qnorm;
	double		proj = fabs(alpha) * wnorm;	/* exact: two floats */
	double		tilt = (RBQ_TILT * fabs(alpha) + RBQ_TILT_MIN) * wnorm;
	double		wq,
				b,
				perp2,
				upper,
				rHi,
				low;

	wq = codeQueryDot(q, f, dot);

	/* |q_perp|, from a lower bound on |b| */
	b = 0.0;
	if (wnorm > 0.0)
		b = (fabs(wq) - RBQ_SLACK * wnorm * qnorm) / wnorm -
			q->eps_norm * (1.0 + RBQ_SLACK) - RBQ_SLACK * qnorm;
	if (b < 0.0)
		b = 0.0;
	perp2 = qnorm * qnorm * (1.0 + RBQ_SLACK) - b * b;
	if (perp2 < 0.0)
		perp2 = 0.0;
	perp2 += RBQ_SLACK * qnorm * qnorm;

	rHi = proj + (double) f->resid;
	upper = alpha * wq + proj * q->eps_norm + tilt * qnorm +
		(double) f->resid * sqrt(perp2) + RBQ_SLACK * rHi * qnorm;

	switch ((RbqMetric) q->metric)
	{
		case RBQ_METRIC_L2:
			low = norm * norm + qnorm * qnorm - 2.0 * upper -
				RBQ_SLACK * (rHi * rHi + qnorm * qnorm);
			if (low < 0.0)
				low = 0.0;
			break;
		case RBQ_METRIC_IP:
			low = -q->center_dot - q->center_slack - upper -
				RBQ_SLACK_ULP * (fabs(q->center_dot) + fabs(upper));
			break;
		default:
			low = 1.0 - q->center_dot - q->center_slack - upper -
				RBQ_SLACK_ULP * (1.0 + fabs(q->center_dot) + fabs(upper));
			break;
	}
	*estimate = (float) estimateOf(q, f, wq);
	*lower = roundDownFloat(low);
}
