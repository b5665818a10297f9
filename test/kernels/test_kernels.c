/*
 * test_kernels.c
 *	  Standalone test of the distance kernels (no PostgreSQL needed).
 *
 * For every level this CPU runs, every entry of its table is compared with
 * the scalar reference on seeded random data, every length from 1 to 2100
 * floats (so every tail length mod 8, 16, 32 and 64, many times over) and
 * 1 to 1000 bytes for the bit entries.  The scalar reference itself is
 * checked against sums formed in double.  Also checked: batch entries give
 * exactly the single-entry results, kernels read nothing past the end
 * (poison after the input, and inputs that end right at a PROT_NONE page),
 * and vk_detect/vk_init/vk_set_level behave.  The same source runs on
 * AArch64 (make check-kernels-arm64: cross-compiled, under qemu-user), where
 * the levels are scalar and NEON.
 *
 * The half (binary16) entries get the same treatment on halves, after the
 * portable conversions in f16.h are checked against independent oracles:
 * every one of the 65,536 halves against a decode in double, and float to
 * half against a search for the nearest half (ties to even) on every half,
 * every midpoint between neighbours, the overflow and subnormal edges and
 * random floats.  The SIMD conversions must then match bit for bit.
 *
 * Usage: test_kernels [seed]
 *
 * test/kernels/test_kernels.c
 */
#include "kernels.h"
#include "f16.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(VK_HAVE_NEON) && defined(__linux__)
#include <sys/auxv.h>
#endif

#define MAX_DIM			2100
#define MAX_BYTES		1000
#define NTRIALS			3
#define BATCH_COUNT		5
#define DEFAULT_SEED	UINT64_C(20240611)
#define MAX_REPORTS		20

/*
 * Error bound for float entries:
 *
 *		|got - ref| <= REL_TOL * S + ABS_TOL
 *
 * where S is the sum of the absolute values of the terms, computed in double
 * (for L2 and the norms S is the result itself).  A float sum of n terms in
 * any order is within about n * 2^-24 * S of the exact sum in the worst
 * case and sqrt(n) * 2^-24 * S typically, so two orders of summation on
 * n <= 2100 stay well inside 1e-5 * S for random data, while a wrong lane,
 * a lost or doubled tail element, or an over-read gives an error of the
 * order of S itself (observed maximum, over many seeds: about 4e-6, almost
 * all of it the scalar reference's in-order sum).  ABS_TOL only covers
 * S == 0.
 */
#define REL_TOL			1e-5
#define ABS_TOL			1e-30

/* cosine distance is a ratio of such sums; this is an absolute bound */
#define COS_TOL			3e-5

static const char *const levelNames[] = {"scalar", "avx2", "avx512", "neon"};

static uint64_t baseSeed = DEFAULT_SEED;
static int	failures = 0;
static double maxRelErr = 0.0;
static long pageSize;

/* buffers: "plain" ones with poison after the data, and guard-page ones */
static float *fbufA;
static float *fbufB;
static float *fbufItems;
static uint8_t *bbufA;
static uint8_t *bbufB;
static char *guardA;			/* first byte of a PROT_NONE page */
static char *guardB;


/* one stream per case, so that a failure can be replayed by its numbers */
static uint64_t
caseSeed(int kind, int level, int len, int trial)
{
	return (baseSeed * UINT64_C(1000003)) ^ ((uint64_t) kind << 56) ^
		((uint64_t) level << 48) ^ ((uint64_t) len << 16) ^ (uint64_t) trial;
}

/*
 * Mixed signs and magnitudes: mantissa in [0.5, 1), binary exponent from -8
 * to +8, random sign, and an exact zero now and then.
 */
static float
randomFloat(uint64_t *state)
{
	uint64_t	r = vk_splitmix64(state);
	double		m;
	int			e;

	if ((r & 31) == 0)
		return 0.0f;
	m = 0.5 + (double) (r >> 40) / (double) (UINT64_C(1) << 25);
	e = (int) ((r >> 8) % 17) - 8;
	m = ldexp(m, e);
	return (float) (((r >> 16) & 1) ? -m : m);
}

static void
fillFloats(float *p, int n, uint64_t *state)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = randomFloat(state);
}

/* NaN after the data: an element read past the end poisons the result */
static void
poisonFloats(float *p, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = NAN;
}

/* Bytes with a per-case density of ones, so counts are not all n*4. */
static void
fillBytes(uint8_t *p, int n, uint64_t *state)
{
	unsigned int density = (unsigned int) (vk_splitmix64(state) % 257);
	int			i,
				bit;

	for (i = 0; i < n; i++)
	{
		uint8_t		v = 0;

		for (bit = 0; bit < 8; bit++)
			if ((unsigned int) (vk_splitmix64(state) & 255) < density)
				v |= (uint8_t) (1u << bit);
		p[i] = v;
	}
}

static char *
mapGuarded(size_t dataBytes)
{
	size_t		span = ((dataBytes + pageSize - 1) / pageSize) * pageSize;
	char	   *base;

	base = mmap(NULL, span + pageSize, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
	{
		perror("mmap");
		exit(2);
	}
	if (mprotect(base + span, pageSize, PROT_NONE) != 0)
	{
		perror("mprotect");
		exit(2);
	}
	return base + span;
}

static void *
allocAligned(size_t bytes)
{
	void	   *p = NULL;

	if (posix_memalign(&p, 64, bytes) != 0)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static void
reportFloat(const char *level, const char *entry, int dim, int trial,
			const void *a, const void *b, double got, double ref, double bound)
{
	failures++;
	if (failures > MAX_REPORTS)
		return;
	printf("FAIL %s %s: dim %d trial %d (a%%64=%d b%%64=%d) seed %llu: "
		   "got %.9g ref %.9g |diff| %.3g > bound %.3g\n",
		   level, entry, dim, trial,
		   (int) ((uintptr_t) a % 64), (int) ((uintptr_t) b % 64),
		   (unsigned long long) baseSeed, got, ref, fabs(got - ref), bound);
}

static void
checkFloat(const char *level, const char *entry, int dim, int trial,
		   const void *a, const void *b, double got, double ref, double scale)
{
	double		err = fabs(got - ref);
	double		bound = REL_TOL * scale + ABS_TOL;

	/* written so that NaN fails */
	if (!(err <= bound))
	{
		reportFloat(level, entry, dim, trial, a, b, got, ref, bound);
		return;
	}
	if (scale > 0.0 && err / scale > maxRelErr)
		maxRelErr = err / scale;
}

static void
checkExact(const char *level, const char *entry, int len, int trial,
		   const void *a, const void *b, uint64_t got, uint64_t ref)
{
	if (got == ref)
		return;
	failures++;
	if (failures > MAX_REPORTS)
		return;
	printf("FAIL %s %s: %d bytes trial %d (a%%64=%d b%%64=%d) seed %llu: "
		   "got %llu ref %llu\n",
		   level, entry, len, trial,
		   (int) ((uintptr_t) a % 64), (int) ((uintptr_t) b % 64),
		   (unsigned long long) baseSeed,
		   (unsigned long long) got, (unsigned long long) ref);
}

/*
 * Place the two inputs of a trial: 0 = both 64-byte aligned, 1 = both off by
 * one element, 2 = both ending exactly at a guard page (alignment then
 * varies with the length).  Poison follows the data in cases 0 and 1.
 */
static void
placeFloats(int trial, int n, float **a, float **b)
{
	switch (trial)
	{
		case 0:
		case 1:
			*a = fbufA + trial;
			*b = fbufB + trial;
			poisonFloats(*a + n, 32);
			poisonFloats(*b + n, 32);
			break;
		default:
			*a = (float *) (guardA - (size_t) n * sizeof(float));
			*b = (float *) (guardB - (size_t) n * sizeof(float));
			break;
	}
}

static void
placeBytes(int trial, int n, uint8_t **a, uint8_t **b)
{
	switch (trial)
	{
		case 0:
		case 1:
			*a = bbufA + trial;
			*b = bbufB + trial;
			memset(*a + n, 0xff, 128);
			memset(*b + n, 0xaa, 128);
			break;
		default:
			*a = (uint8_t *) (guardA - n);
			*b = (uint8_t *) (guardB - n);
			break;
	}
}

/* Float entries of one table, every dimension and placement. */
static void
testFloatEntries(const VectorKernels *t, const VectorKernels *ref)
{
	int			dim,
				trial,
				i;

	for (dim = 1; dim <= MAX_DIM; dim++)
	{
		for (trial = 0; trial < NTRIALS; trial++)
		{
			uint64_t	state = caseSeed(1, (int) t->level, dim, trial);
			float	   *a,
					   *b;
			double		sL2 = 0.0,
						sDotAbs = 0.0,
						sDot = 0.0,
						sL1 = 0.0,
						sAA = 0.0,
						sBB = 0.0;
			double		rL2,
						rDot,
						rL1,
						rNorm;
			float		gDot,
						gAA,
						gBB,
						rfDot,
						rfAA,
						rfBB;

			placeFloats(trial, dim, &a, &b);
			fillFloats(a, dim, &state);
			fillFloats(b, dim, &state);

			for (i = 0; i < dim; i++)
			{
				double		x = a[i];
				double		y = b[i];

				sL2 += (x - y) * (x - y);
				sDot += x * y;
				sDotAbs += fabs(x * y);
				sL1 += fabs(x - y);
				sAA += x * x;
				sBB += y * y;
			}

			/*
			 * The scalar table is checked against double sums; the others
			 * against the scalar table.
			 */
			if (ref == NULL)
			{
				rL2 = sL2;
				rDot = sDot;
				rL1 = sL1;
				rNorm = sAA;
				rfDot = (float) sDot;
				rfAA = (float) sAA;
				rfBB = (float) sBB;
			}
			else
			{
				rL2 = ref->f32_l2sq(a, b, dim);
				rDot = ref->f32_dot(a, b, dim);
				rL1 = ref->f32_l1(a, b, dim);
				rNorm = ref->f32_norm_sq(a, dim);
				ref->f32_dot_norms(a, b, dim, &rfDot, &rfAA, &rfBB);
			}

			checkFloat(t->name, "f32_l2sq", dim, trial, a, b,
					   t->f32_l2sq(a, b, dim), rL2, sL2);
			checkFloat(t->name, "f32_dot", dim, trial, a, b,
					   t->f32_dot(a, b, dim), rDot, sDotAbs);
			checkFloat(t->name, "f32_l1", dim, trial, a, b,
					   t->f32_l1(a, b, dim), rL1, sL1);
			checkFloat(t->name, "f32_norm_sq", dim, trial, a, b,
					   t->f32_norm_sq(a, dim), rNorm, sAA);
			t->f32_dot_norms(a, b, dim, &gDot, &gAA, &gBB);
			checkFloat(t->name, "f32_dot_norms.dot", dim, trial, a, b,
					   gDot, rfDot, sDotAbs);
			checkFloat(t->name, "f32_dot_norms.aa", dim, trial, a, b,
					   gAA, rfAA, sAA);
			checkFloat(t->name, "f32_dot_norms.bb", dim, trial, a, b,
					   gBB, rfBB, sBB);
		}
	}
}

/*
 * Batch entries must equal the single entries bit for bit (callers mix the
 * two paths and compare the distances).  Items are spread with odd strides
 * and NaN gaps between them.
 */
static void
testBatchEntries(const VectorKernels *t)
{
	const float *items[BATCH_COUNT];
	float		out[BATCH_COUNT + 1];
	float	   *q;
	int			dim,
				k;

	for (dim = 1; dim <= MAX_DIM; dim++)
	{
		uint64_t	state = caseSeed(2, (int) t->level, dim, 0);
		int			stride = dim + 3;

		q = fbufA + (dim & 1);
		fillFloats(q, dim, &state);
		poisonFloats(q + dim, 32);
		poisonFloats(fbufItems, BATCH_COUNT * stride + 32);
		for (k = 0; k < BATCH_COUNT; k++)
		{
			float	   *item = fbufItems + k * stride + (k & 1);

			fillFloats(item, dim, &state);
			items[k] = item;
		}

		out[BATCH_COUNT] = 12345.0f;
		t->f32_l2sq_batch(q, items, BATCH_COUNT, dim, out);
		for (k = 0; k < BATCH_COUNT; k++)
		{
			float		single = t->f32_l2sq(q, items[k], dim);

			if (memcmp(&out[k], &single, sizeof(float)) != 0)
				reportFloat(t->name, "f32_l2sq_batch", dim, k, q, items[k],
							out[k], single, 0.0);
		}
		t->f32_dot_batch(q, items, BATCH_COUNT, dim, out);
		for (k = 0; k < BATCH_COUNT; k++)
		{
			float		single = t->f32_dot(q, items[k], dim);

			if (memcmp(&out[k], &single, sizeof(float)) != 0)
				reportFloat(t->name, "f32_dot_batch", dim, k, q, items[k],
							out[k], single, 0.0);
		}
		if (out[BATCH_COUNT] != 12345.0f)
			reportFloat(t->name, "batch wrote past count", dim, 0, q, q,
						out[BATCH_COUNT], 12345.0, 0.0);
	}

	/* dot_rows: rows of a strided matrix (1 to BATCH_COUNT of them, so the
	 * four-row blocks and the leftover rows are both covered), against the
	 * scalar reference within the float bound */
	for (dim = 1; dim <= MAX_DIM; dim++)
	{
		uint64_t	state = caseSeed(4, (int) t->level, dim, 0);
		int			stride = dim + 3;
		int			count = 1 + dim % BATCH_COUNT;

		q = fbufA + (dim & 1);
		fillFloats(q, dim, &state);
		poisonFloats(q + dim, 32);
		poisonFloats(fbufItems, BATCH_COUNT * stride + 32);
		for (k = 0; k < count; k++)
			fillFloats(fbufItems + k * stride, dim, &state);
		out[count] = 12345.0f;
		t->f32_dot_rows(q, fbufItems, stride, count, dim, out);
		for (k = 0; k < count; k++)
		{
			const float *row = fbufItems + k * stride;
			double		ref = 0.0,
						scale = 0.0;

			for (int i = 0; i < dim; i++)
			{
				ref += (double) q[i] * row[i];
				scale += fabs((double) q[i] * row[i]);
			}
			checkFloat(t->name, "f32_dot_rows", dim, k, q, row, out[k], ref, scale);
		}
		if (out[count] != 12345.0f)
			reportFloat(t->name, "dot_rows wrote past count", dim, 0, q, q,
						out[count], 12345.0, 0.0);
	}

	/* count 0 writes nothing */
	out[0] = 12345.0f;
	t->f32_l2sq_batch(fbufA, items, 0, 16, out);
	t->f32_dot_batch(fbufA, items, 0, 16, out);
	t->f32_dot_rows(fbufA, fbufItems, 16, 0, 16, out);
	if (out[0] != 12345.0f)
		reportFloat(t->name, "batch with count 0", 16, 0, fbufA, fbufA,
					out[0], 12345.0, 0.0);
}

/* Bit-by-bit oracle for the scalar bit kernels. */
static void
naiveBitCounts(const uint8_t *a, const uint8_t *b, int n,
			   uint64_t *ham, uint64_t *inter, uint64_t *uni)
{
	int			i,
				bit;

	*ham = *inter = *uni = 0;
	for (i = 0; i < n; i++)
		for (bit = 0; bit < 8; bit++)
		{
			int			x = (a[i] >> bit) & 1;
			int			y = (b[i] >> bit) & 1;

			*ham += (uint64_t) (x ^ y);
			*inter += (uint64_t) (x & y);
			*uni += (uint64_t) (x | y);
		}
}

static void
testBitEntries(const VectorKernels *t, const VectorKernels *ref)
{
	int			len,
				trial;

	for (len = 1; len <= MAX_BYTES; len++)
	{
		for (trial = 0; trial < NTRIALS; trial++)
		{
			uint64_t	state = caseSeed(3, (int) t->level, len, trial);
			uint8_t    *a,
					   *b;
			uint64_t	rHam,
						rInter,
						rUni,
						gInter,
						gUni;

			placeBytes(trial, len, &a, &b);
			fillBytes(a, len, &state);
			fillBytes(b, len, &state);

			if (ref == NULL)
				naiveBitCounts(a, b, len, &rHam, &rInter, &rUni);
			else
			{
				rHam = ref->bit_hamming(a, b, len);
				ref->bit_and_or_count(a, b, len, &rInter, &rUni);
			}
			checkExact(t->name, "bit_hamming", len, trial, a, b,
					   t->bit_hamming(a, b, len), rHam);
			t->bit_and_or_count(a, b, len, &gInter, &gUni);
			checkExact(t->name, "bit_and_or_count.inter", len, trial, a, b,
					   gInter, rInter);
			checkExact(t->name, "bit_and_or_count.uni", len, trial, a, b,
					   gUni, rUni);
		}
	}
}

/*
 * The tag masks against a plain loop, over 1..16 words, with the inputs
 * aligned, off by one element, or ending at a guard page (a read past
 * 64 * nwords values faults).  Values come from a small range so that
 * about one in four compares equal, and signature masks have one to three
 * bits, so both answers are common.
 */
static void
testTagMasks(const VectorKernels *t)
{
	uint64_t	got[16],
				want[16];

	for (int nwords = 1; nwords <= 16; nwords++)
	{
		for (int trial = 0; trial < NTRIALS; trial++)
		{
			uint64_t	state = caseSeed(7, (int) t->level, nwords, trial);
			int			n = 64 * nwords;
			uint32_t   *lo,
					   *hi;
			uint32_t	v,
						mlo = 0,
						mhi = 0;

			if (trial == 2)
			{
				lo = (uint32_t *) (guardA - (size_t) n * sizeof(uint32_t));
				hi = (uint32_t *) (guardB - (size_t) n * sizeof(uint32_t));
			}
			else
			{
				lo = (uint32_t *) fbufA + trial;
				hi = (uint32_t *) fbufB + trial;
			}
			for (int i = 0; i < n; i++)
			{
				lo[i] = (uint32_t) (vk_splitmix64(&state) & 3) | (i & 1 ? 0x80000000u : 0);
				hi[i] = (uint32_t) vk_splitmix64(&state) | (uint32_t) vk_splitmix64(&state);
			}
			v = (uint32_t) (vk_splitmix64(&state) & 3) | (trial & 1 ? 0x80000000u : 0);
			for (int k = 0; k <= (int) (vk_splitmix64(&state) % 3); k++)
			{
				mlo |= 1u << (vk_splitmix64(&state) % 2);
				mhi |= 1u << (vk_splitmix64(&state) % 32);
			}

			t->u32_eq_mask(lo, nwords, v, got);
			for (int w = 0; w < nwords; w++)
			{
				want[w] = 0;
				for (int j = 0; j < 64; j++)
					want[w] |= (uint64_t) (lo[64 * w + j] == v) << j;
				checkExact(t->name, "u32_eq_mask", nwords, trial, lo, NULL, got[w], want[w]);
			}
			t->u32_pair_has_mask(lo, hi, nwords, mlo, mhi, got);
			for (int w = 0; w < nwords; w++)
			{
				want[w] = 0;
				for (int j = 0; j < 64; j++)
				{
					int			i = 64 * w + j;

					want[w] |= (uint64_t) ((lo[i] & mlo) == mlo && (hi[i] & mhi) == mhi) << j;
				}
				checkExact(t->name, "u32_pair_has_mask", nwords, trial, lo, hi, got[w], want[w]);
			}
		}
	}
}

/* Length 0 gives 0 everywhere. */
static void
testEmpty(const VectorKernels *t)
{
	float		dot = 1.0f,
				aa = 1.0f,
				bb = 1.0f;
	uint64_t	inter = 1,
				uni = 1;

	if (t->f32_l2sq(fbufA, fbufB, 0) != 0.0f ||
		t->f32_dot(fbufA, fbufB, 0) != 0.0f ||
		t->f32_l1(fbufA, fbufB, 0) != 0.0f ||
		t->f32_norm_sq(fbufA, 0) != 0.0f)
		reportFloat(t->name, "length 0", 0, 0, fbufA, fbufB, 1.0, 0.0, 0.0);
	t->f32_dot_norms(fbufA, fbufB, 0, &dot, &aa, &bb);
	if (dot != 0.0f || aa != 0.0f || bb != 0.0f)
		reportFloat(t->name, "f32_dot_norms length 0", 0, 0, fbufA, fbufB,
					1.0, 0.0, 0.0);
	checkExact(t->name, "bit_hamming length 0", 0, 0, bbufA, bbufB,
			   t->bit_hamming(bbufA, bbufB, 0), 0);
	t->bit_and_or_count(bbufA, bbufB, 0, &inter, &uni);
	checkExact(t->name, "bit_and_or_count length 0", 0, 0, bbufA, bbufB,
			   inter + uni, 0);
}

/* vk_cosine_distance through vk_active, which the caller has set. */
static void
testCosine(const VectorKernels *t)
{
	int			dim;
	double		d;

	for (dim = 1; dim <= MAX_DIM; dim += 37)
	{
		uint64_t	state = caseSeed(4, (int) t->level, dim, 0);
		double		sDot = 0.0,
					sAA = 0.0,
					sBB = 0.0,
					expect;
		int			i;

		fillFloats(fbufA, dim, &state);
		fillFloats(fbufB, dim, &state);
		fbufA[0] = 1.0f;		/* never a zero vector here */
		fbufB[0] = -2.0f;
		for (i = 0; i < dim; i++)
		{
			sDot += (double) fbufA[i] * fbufB[i];
			sAA += (double) fbufA[i] * fbufA[i];
			sBB += (double) fbufB[i] * fbufB[i];
		}
		expect = 1.0 - sDot / sqrt(sAA * sBB);
		d = vk_cosine_distance(fbufA, fbufB, dim);
		if (!(fabs(d - expect) <= COS_TOL))
			reportFloat(t->name, "vk_cosine_distance", dim, 0, fbufA, fbufB,
						d, expect, COS_TOL);

		/* same and opposite directions land exactly on the clamp range */
		d = vk_cosine_distance(fbufA, fbufA, dim);
		if (!(d >= 0.0 && d <= COS_TOL))
			reportFloat(t->name, "vk_cosine_distance(a, a)", dim, 0, fbufA,
						fbufA, d, 0.0, COS_TOL);
		for (i = 0; i < dim; i++)
			fbufB[i] = -2.0f * fbufA[i];
		d = vk_cosine_distance(fbufA, fbufB, dim);
		if (!(d <= 2.0 && d >= 2.0 - COS_TOL))
			reportFloat(t->name, "vk_cosine_distance(a, -2a)", dim, 0, fbufA,
						fbufB, d, 2.0, COS_TOL);
	}

	memset(fbufB, 0, 64 * sizeof(float));
	d = vk_cosine_distance(fbufA, fbufB, 64);
	if (!isnan(d))
		reportFloat(t->name, "vk_cosine_distance(a, 0) is not NaN", 64, 0,
					fbufA, fbufB, d, NAN, 0.0);
}


/* ---------------------------------------------------------------- halves */

#define HALF_POISON		0x7e00	/* a quiet NaN */

/* Value of a half, decoded independently of f16.h (NaN for NaN). */
static double
halfValue(uint16_t h)
{
	int			exp = (h >> 10) & 0x1f;
	int			frac = h & 0x3ff;
	double		v;

	if (exp == 0x1f)
		v = frac ? NAN : INFINITY;
	else if (exp == 0)
		v = ldexp((double) frac, -24);
	else
		v = ldexp(1024.0 + frac, exp - 25);
	return (h & 0x8000) ? -v : v;
}

/*
 * The nearest half to f, ties to the even one, found by binary search over
 * the positive halves (0x0000-0x7bff increase with their bits).  Past 65504
 * the next step would be 65536, so from 65520 on the result is infinity.
 */
static uint16_t
nearestHalf(float f)
{
	double		x = fabs((double) f);
	uint16_t	sign = signbit(f) ? 0x8000 : 0;
	int			lo = 0,
				hi = 0x7bff;
	double		vlo,
				vhi;

	if (isnan(f))
		return 0x7e00;
	if (x >= 65520.0)
		return sign | 0x7c00;
	if (x >= 65504.0)
		return sign | 0x7bff;
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (halfValue((uint16_t) mid) <= x)
			lo = mid;
		else
			hi = mid - 1;
	}
	vlo = halfValue((uint16_t) lo);
	vhi = halfValue((uint16_t) (lo + 1));
	if (x - vlo < vhi - x || (x - vlo == vhi - x && (lo & 1) == 0))
		return sign | (uint16_t) lo;
	return sign | (uint16_t) (lo + 1);
}

static void
reportHalf(const char *level, const char *entry, uint32_t input, uint32_t got, uint32_t want)
{
	failures++;
	if (failures > MAX_REPORTS)
		return;
	printf("FAIL %s %s: input 0x%08x got 0x%08x want 0x%08x\n",
		   level, entry, input, got, want);
}

static int	nConvFloats;
static float *convFloats;		/* inputs for the float -> half tests */

/* Every half's value, the midpoints, the edges, and random floats. */
static void
makeConversionInputs(void)
{
	static const float edges[] = {
		0.0f, -0.0f, 65504.0f, 65505.0f, 65519.99f, 65520.0f, 65536.0f, 1e10f,
		3.4e38f, 0x1p-14f, 0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f,
		0x1p-26f, 1e-30f, 0x1.ffcp-15f, 0x1.ffep-15f, 0x1.fffp-15f, 1e-45f
	};
	uint64_t	state = caseSeed(5, 0, 0, 0);
	int			n = 0;
	int			h,
				i;

	convFloats = malloc(sizeof(float) * (4 * 65536 + 200000 + 64));
	for (h = 0; h < 65536; h++)
	{
		double		v = halfValue((uint16_t) h);
		double		next = halfValue((uint16_t) (h + 1));

		convFloats[n++] = (float) v;
		/* midpoint to the next half of the same sign: exact in float */
		if ((h & 0x7fff) < 0x7bff)
		{
			convFloats[n++] = (float) ((v + next) / 2);
			convFloats[n++] = nextafterf((float) ((v + next) / 2), 0.0f);
			convFloats[n++] = nextafterf((float) ((v + next) / 2), INFINITY * v);
		}
	}
	for (i = 0; i < (int) (sizeof(edges) / sizeof(edges[0])); i++)
	{
		convFloats[n++] = edges[i];
		convFloats[n++] = -edges[i];
	}
	convFloats[n++] = INFINITY;
	convFloats[n++] = -INFINITY;
	convFloats[n++] = NAN;
	for (i = 0; i < 200000; i++)
	{
		uint32_t	bits = (uint32_t) vk_splitmix64(&state);
		float		f;

		/* exponents around the half range, where rounding is interesting */
		bits = (bits & 0x807fffff) | ((uint32_t) (96 + (bits >> 23) % 48) << 23);
		memcpy(&f, &bits, sizeof(f));
		convFloats[n++] = f;
	}
	nConvFloats = n;
}

static int
sameHalfResult(uint16_t got, uint16_t want)
{
	if ((want & 0x7c00) == 0x7c00 && (want & 0x3ff))
		return (got & 0x7c00) == 0x7c00 && (got & 0x3ff);	/* both NaN */
	return got == want;
}

/*
 * Conversions: the portable functions against the oracles (scalar level),
 * and each table's array entries against the portable functions, over
 * lengths that exercise every tail, never writing past n.
 */
static void
testHalfConversion(const VectorKernels *t)
{
	uint16_t   *hin = (uint16_t *) fbufItems;
	uint16_t	hout[64 + 8];
	float		fout[64 + 8];
	int			h,
				i,
				n,
				off;

	if (t->level == VK_LEVEL_SCALAR)
	{
		for (h = 0; h < 65536; h++)
		{
			double		want = halfValue((uint16_t) h);
			float		got = vk_f16_to_f32((uint16_t) h);

			if (isnan(want) ? !isnan(got) : (got != want || !signbit(got) != !signbit(want)))
				reportHalf(t->name, "vk_f16_to_f32", (uint32_t) h, 0, 0);
		}
		for (i = 0; i < nConvFloats; i++)
		{
			uint16_t	want = nearestHalf(convFloats[i]);
			uint16_t	got = vk_f32_to_f16(convFloats[i]);
			uint32_t	bits;

			memcpy(&bits, &convFloats[i], sizeof(bits));
			if (!sameHalfResult(got, want))
				reportHalf(t->name, "vk_f32_to_f16", bits, got, want);
		}
	}

	/* half -> float: all 65,536 halves, in runs of every length mod 16 */
	for (h = 0; h < 65536; h++)
		hin[h] = (uint16_t) h;
	for (off = 0; off < 65536; off += n)
	{
		n = 1 + off % 61;
		if (off + n > 65536)
			n = 65536 - off;
		for (i = 0; i < 64 + 8; i++)
			fout[i] = 12345.0f;
		t->f16_to_f32(hin + off, fout, n);
		for (i = 0; i < n; i++)
		{
			float		want = vk_f16_to_f32(hin[off + i]);
			uint32_t	gb,
						wb;

			memcpy(&gb, &fout[i], 4);
			memcpy(&wb, &want, 4);
			if (isnan(want) ? !isnan(fout[i]) : gb != wb)
				reportHalf(t->name, "f16_to_f32", hin[off + i], gb, wb);
		}
		for (i = n; i < 64 + 8; i++)
			if (fout[i] != 12345.0f)
				reportHalf(t->name, "f16_to_f32 wrote past n", (uint32_t) n, 0, 0);
	}

	/* float -> half */
	for (off = 0; off < nConvFloats; off += n)
	{
		n = 1 + off % 61;
		if (off + n > nConvFloats)
			n = nConvFloats - off;
		for (i = 0; i < 64 + 8; i++)
			hout[i] = 0x1234;
		t->f32_to_f16(convFloats + off, hout, n);
		for (i = 0; i < n; i++)
		{
			uint16_t	want = vk_f32_to_f16(convFloats[off + i]);
			uint32_t	bits;

			memcpy(&bits, &convFloats[off + i], sizeof(bits));
			if (!sameHalfResult(hout[i], want))
				reportHalf(t->name, "f32_to_f16", bits, hout[i], want);
		}
		for (i = n; i < 64 + 8; i++)
			if (hout[i] != 0x1234)
				reportHalf(t->name, "f32_to_f16 wrote past n", (uint32_t) n, 0, 0);
	}

	/* length 0 touches nothing */
	fout[0] = 12345.0f;
	hout[0] = 0x1234;
	t->f16_to_f32(hin, fout, 0);
	t->f32_to_f16(convFloats, hout, 0);
	if (fout[0] != 12345.0f || hout[0] != 0x1234)
		reportHalf(t->name, "conversion of length 0 wrote", 0, 0, 0);
}

static void
fillHalves(uint16_t *p, int n, uint64_t *state)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = vk_f32_to_f16(randomFloat(state));
}

static void
poisonHalves(uint16_t *p, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = HALF_POISON;
}

/* As placeFloats, for halves. */
static void
placeHalves(int trial, int n, uint16_t **a, uint16_t **b)
{
	switch (trial)
	{
		case 0:
		case 1:
			*a = (uint16_t *) fbufA + trial;
			*b = (uint16_t *) fbufB + trial;
			poisonHalves(*a + n, 64);
			poisonHalves(*b + n, 64);
			break;
		default:
			*a = (uint16_t *) (guardA - (size_t) n * sizeof(uint16_t));
			*b = (uint16_t *) (guardB - (size_t) n * sizeof(uint16_t));
			break;
	}
}

/* Half distance entries: as testFloatEntries, on halves. */
static void
testHalfEntries(const VectorKernels *t, const VectorKernels *ref)
{
	int			dim,
				trial,
				i;

	for (dim = 1; dim <= MAX_DIM; dim++)
	{
		for (trial = 0; trial < NTRIALS; trial++)
		{
			uint64_t	state = caseSeed(6, (int) t->level, dim, trial);
			uint16_t   *a,
					   *b;
			double		sL2 = 0.0,
						sDotAbs = 0.0,
						sDot = 0.0,
						sL1 = 0.0,
						sAA = 0.0,
						sBB = 0.0;
			double		rL2,
						rDot,
						rL1;
			float		gDot,
						gAA,
						gBB,
						rfDot,
						rfAA,
						rfBB;

			placeHalves(trial, dim, &a, &b);
			fillHalves(a, dim, &state);
			fillHalves(b, dim, &state);

			for (i = 0; i < dim; i++)
			{
				double		x = halfValue(a[i]);
				double		y = halfValue(b[i]);

				sL2 += (x - y) * (x - y);
				sDot += x * y;
				sDotAbs += fabs(x * y);
				sL1 += fabs(x - y);
				sAA += x * x;
				sBB += y * y;
			}
			if (ref == NULL)
			{
				rL2 = sL2;
				rDot = sDot;
				rL1 = sL1;
				rfDot = (float) sDot;
				rfAA = (float) sAA;
				rfBB = (float) sBB;
			}
			else
			{
				rL2 = ref->f16_l2sq(a, b, dim);
				rDot = ref->f16_dot(a, b, dim);
				rL1 = ref->f16_l1(a, b, dim);
				ref->f16_dot_norms(a, b, dim, &rfDot, &rfAA, &rfBB);
			}

			checkFloat(t->name, "f16_l2sq", dim, trial, a, b,
					   t->f16_l2sq(a, b, dim), rL2, sL2);
			checkFloat(t->name, "f16_dot", dim, trial, a, b,
					   t->f16_dot(a, b, dim), rDot, sDotAbs);
			checkFloat(t->name, "f16_l1", dim, trial, a, b,
					   t->f16_l1(a, b, dim), rL1, sL1);
			t->f16_dot_norms(a, b, dim, &gDot, &gAA, &gBB);
			checkFloat(t->name, "f16_dot_norms.dot", dim, trial, a, b,
					   gDot, rfDot, sDotAbs);
			checkFloat(t->name, "f16_dot_norms.aa", dim, trial, a, b,
					   gAA, rfAA, sAA);
			checkFloat(t->name, "f16_dot_norms.bb", dim, trial, a, b,
					   gBB, rfBB, sBB);
		}
	}

	/* length 0 gives 0 */
	{
		float		dot = 1.0f,
					aa = 1.0f,
					bb = 1.0f;
		const uint16_t *ha = (const uint16_t *) fbufA;
		const uint16_t *hb = (const uint16_t *) fbufB;

		t->f16_dot_norms(ha, hb, 0, &dot, &aa, &bb);
		if (t->f16_l2sq(ha, hb, 0) != 0.0f || t->f16_dot(ha, hb, 0) != 0.0f ||
			t->f16_l1(ha, hb, 0) != 0.0f || dot != 0.0f || aa != 0.0f || bb != 0.0f)
			reportFloat(t->name, "f16 length 0", 0, 0, ha, hb, 1.0, 0.0, 0.0);
	}
}

/* Half batches equal the single entries bit for bit. */
static void
testHalfBatchEntries(const VectorKernels *t)
{
	const uint16_t *items[BATCH_COUNT];
	float		out[BATCH_COUNT + 1];
	uint16_t   *q;
	uint16_t   *pool = (uint16_t *) fbufItems;
	int			dim,
				k;

	for (dim = 1; dim <= MAX_DIM; dim++)
	{
		uint64_t	state = caseSeed(7, (int) t->level, dim, 0);
		int			stride = dim + 3;

		q = (uint16_t *) fbufA + (dim & 1);
		fillHalves(q, dim, &state);
		poisonHalves(q + dim, 64);
		poisonHalves(pool, BATCH_COUNT * stride + 64);
		for (k = 0; k < BATCH_COUNT; k++)
		{
			uint16_t   *item = pool + k * stride + (k & 1);

			fillHalves(item, dim, &state);
			items[k] = item;
		}

		out[BATCH_COUNT] = 12345.0f;
		t->f16_l2sq_batch(q, items, BATCH_COUNT, dim, out);
		for (k = 0; k < BATCH_COUNT; k++)
		{
			float		single = t->f16_l2sq(q, items[k], dim);

			if (memcmp(&out[k], &single, sizeof(float)) != 0)
				reportFloat(t->name, "f16_l2sq_batch", dim, k, q, items[k],
							out[k], single, 0.0);
		}
		t->f16_dot_batch(q, items, BATCH_COUNT, dim, out);
		for (k = 0; k < BATCH_COUNT; k++)
		{
			float		single = t->f16_dot(q, items[k], dim);

			if (memcmp(&out[k], &single, sizeof(float)) != 0)
				reportFloat(t->name, "f16_dot_batch", dim, k, q, items[k],
							out[k], single, 0.0);
		}
		if (out[BATCH_COUNT] != 12345.0f)
			reportFloat(t->name, "f16 batch wrote past count", dim, 0, q, q,
						out[BATCH_COUNT], 12345.0, 0.0);
	}
}

/*
 * What the compiler's own CPU probe (libgcc, which also checks XCR0) says
 * the best level is, as an independent check of vk_detect().  On AArch64
 * Linux, what the kernel's hardware capabilities say (Advanced SIMD is
 * HWCAP_ASIMD there, and always set).
 */
static int
expectedLevel(void)
{
#if defined(VK_HAVE_X86) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") &&
		__builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vl") &&
		__builtin_cpu_supports("avx2") &&
		__builtin_cpu_supports("fma") &&
		__builtin_cpu_supports("popcnt") &&
		__builtin_cpu_supports("f16c"))
		return VK_LEVEL_AVX512;
	if (__builtin_cpu_supports("avx2") &&
		__builtin_cpu_supports("fma") &&
		__builtin_cpu_supports("popcnt") &&
		__builtin_cpu_supports("f16c"))
		return VK_LEVEL_AVX2;
	return VK_LEVEL_SCALAR;
#elif defined(VK_HAVE_NEON) && defined(__linux__)
	return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? VK_LEVEL_NEON : VK_LEVEL_SCALAR;
#else
	return -1;
#endif
}

static void
failLevel(const char *what)
{
	failures++;
	printf("FAIL dispatch: %s\n", what);
}

/* vk_detect, vk_table, vk_init and vk_set_level. */
static void
testDispatch(void)
{
	VkLevel		best = vk_detect();
	int			expect = expectedLevel();
	int			lvl;

	printf("detected level: %s", levelNames[best]);
	if (expect >= 0)
		printf(" (%s says %s)",
#ifdef VK_HAVE_X86
			   "__builtin_cpu_supports",
#else
			   "getauxval(AT_HWCAP)",
#endif
			   levelNames[expect]);
	printf("\n");

	if (expect >= 0 && expect != (int) best)
		failLevel("vk_detect() disagrees with the independent CPU probe");
	if (vk_detect() != best)
		failLevel("vk_detect() is not stable");
	if (vk_table(VK_LEVEL_SCALAR) != &vk_scalar_kernels)
		failLevel("vk_table(SCALAR) is not the scalar table");
	if (vk_table(best) == NULL)
		failLevel("vk_table(vk_detect()) is NULL");

	for (lvl = VK_LEVEL_SCALAR; lvl <= VK_LEVEL_NEON; lvl++)
	{
		const VectorKernels *t = vk_table((VkLevel) lvl);

		if (t != NULL && ((int) t->level != lvl ||
						  strcmp(t->name, levelNames[lvl]) != 0))
			failLevel("table name or level field does not match its level");
#ifdef VK_HAVE_X86
		if (lvl <= VK_LEVEL_AVX512 && (t != NULL) != (lvl <= (int) best))
			failLevel("vk_table() availability differs from vk_detect()");
#endif
#ifdef VK_HAVE_NEON
		/* AArch64: scalar and NEON, never an x86 table */
		if ((t != NULL) != (lvl == VK_LEVEL_SCALAR || lvl == VK_LEVEL_NEON))
			failLevel("vk_table() availability is wrong on AArch64");
#endif
	}

	vk_init();
	if (vk_active != vk_table(best))
		failLevel("vk_init() did not pick the highest detected level");
	vk_init();
	if (vk_active != vk_table(best))
		failLevel("vk_init() is not idempotent");

#ifdef VK_HAVE_X86
	/* NEON cannot exist on x86: refused, and vk_active untouched */
	if (vk_table(VK_LEVEL_NEON) != NULL)
		failLevel("vk_table(NEON) is not NULL on x86");
	if (vk_set_level(VK_LEVEL_NEON))
		failLevel("vk_set_level(NEON) succeeded on x86");
	if (vk_active != vk_table(best))
		failLevel("a refused vk_set_level() changed vk_active");
#endif
#ifdef VK_HAVE_NEON
	/* the x86 levels cannot exist on AArch64: refused, vk_active untouched */
	if (best != VK_LEVEL_NEON)
		failLevel("vk_detect() is not NEON on AArch64");
	if (vk_set_level(VK_LEVEL_AVX2) || vk_set_level(VK_LEVEL_AVX512))
		failLevel("vk_set_level(AVX2 or AVX512) succeeded on AArch64");
	if (vk_active != vk_table(best))
		failLevel("a refused vk_set_level() changed vk_active");
#endif
	for (lvl = VK_LEVEL_SCALAR; lvl <= VK_LEVEL_NEON; lvl++)
	{
		const VectorKernels *t = vk_table((VkLevel) lvl);
		const VectorKernels *before = vk_active;
		int			ok = vk_set_level((VkLevel) lvl);

		if (ok != (t != NULL))
			failLevel("vk_set_level() result differs from vk_table()");
		if (ok && vk_active != t)
			failLevel("vk_set_level() did not switch vk_active");
		if (!ok && vk_active != before)
			failLevel("a refused vk_set_level() changed vk_active");
	}
	vk_init();
}

int
main(int argc, char **argv)
{
	int			lvl;

	if (argc > 1)
		baseSeed = strtoull(argv[1], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pageSize = sysconf(_SC_PAGESIZE);

	fbufA = allocAligned((MAX_DIM + 64) * sizeof(float));
	fbufB = allocAligned((MAX_DIM + 64) * sizeof(float));
	/* also holds the 65,536 halves of the conversion test */
	fbufItems = allocAligned((size_t) BATCH_COUNT * (MAX_DIM + 3) * sizeof(float) +
							 65536 * sizeof(uint16_t) + 64 * sizeof(float));
	bbufA = allocAligned(MAX_BYTES + 256);
	bbufB = allocAligned(MAX_BYTES + 256);
	guardA = mapGuarded(MAX_DIM * sizeof(float));
	guardB = mapGuarded(MAX_DIM * sizeof(float));

	printf("seed %llu; float bound |x - ref| <= %g * sum|terms| + %g; "
		   "bit entries exact\n",
		   (unsigned long long) baseSeed, REL_TOL, ABS_TOL);

	testDispatch();
	makeConversionInputs();

	for (lvl = VK_LEVEL_SCALAR; lvl <= VK_LEVEL_NEON; lvl++)
	{
		const VectorKernels *t = vk_table((VkLevel) lvl);
		int			before = failures;

		if (t == NULL)
		{
			printf("kernels %s: not available on this CPU/build, skipped\n",
				   levelNames[lvl]);
			continue;
		}
		maxRelErr = 0.0;
		testEmpty(t);
		testFloatEntries(t, lvl == VK_LEVEL_SCALAR ? NULL : &vk_scalar_kernels);
		testBatchEntries(t);
		testBitEntries(t, lvl == VK_LEVEL_SCALAR ? NULL : &vk_scalar_kernels);
		testTagMasks(t);
		testHalfConversion(t);
		testHalfEntries(t, lvl == VK_LEVEL_SCALAR ? NULL : &vk_scalar_kernels);
		testHalfBatchEntries(t);
		vk_set_level((VkLevel) lvl);
		testCosine(t);
		vk_init();

		printf("kernels %s: 19 entries x %d dims, bits 1..%d bytes, "
			   "vs %s: %s (max rel err %.2g)\n",
			   t->name, MAX_DIM, MAX_BYTES,
			   lvl == VK_LEVEL_SCALAR ? "double sums" : "scalar",
			   failures == before ? "OK" : "FAILED", maxRelErr);
	}

	if (failures > 0)
	{
		printf("%d failure(s)%s\n", failures,
			   failures > MAX_REPORTS ? " (first ones shown)" : "");
		return 1;
	}
	printf("all kernel tests passed\n");
	return 0;
}
