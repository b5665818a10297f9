/*
 * test_rabitq.c
 *	  Standalone test of the RaBitQ codec (src/kernels/rabitq.c) and of the
 *	  rbq_dot kernels (no PostgreSQL needed).
 *
 * 1. Kernels: every level this CPU runs gives exactly the integer <u, qu>
 *	  of a naive oracle (unpack both, multiply, add), for bits 1 to 8,
 *	  padded 64 to 2112 by 64 and 16,000, batches of 1 to 33 codes whose
 *	  last code and whose query layout end at a PROT_NONE page, and the
 *	  batch equals the single entry; the largest possible dot fits.
 * 2. Rotation: norms and inner products are kept (to double precision, and
 *	  to float precision for rbq_rotate), the inverse undoes it, and a fixed
 *	  seed gives pinned checksums of the signs and of a rotated vector.
 * 3. Lower bound: never above the exact distance (long double, from the
 *	  original floats), for L2, IP and COSINE, bits 1 to 8, on random pairs
 *	  (over 100,000 of them in the full run) and adversarial ones: the query
 *	  equal to the data vector or its negation, zero vectors, data scaled by
 *	  1e-20 and 1e20, all-equal coordinates, one-hot vectors, dimensions 1,
 *	  2, 63, 64, 65 and 16,000, centres zero, the mean and far off; and
 *	  "tight" pairs built in the rotated space, where the code fits r
 *	  exactly and the query lies on its own grid, so that only the directed
 *	  roundings keep the bound valid.
 * 4. Estimator: on 2,000 clustered 128-dimensional vectors, recall@10 of
 *	  the top 50 by estimate re-ranked exactly, per bits, the mean
 *	  |estimate - exact| shrinks as bits grow, and the codes' mean cosine
 *	  with their vectors is what the bits allow.  Also printed: the share
 *	  of rows whose lower bound alone puts them outside the exact top 10.
 * 5. Standard error: rbq_estimate_sigma against the estimates' errors at
 *	  512 and 1,536 dimensions, 1 to 8 bits, L2 and IP.
 *
 * Usage: test_rabitq [--quick] [seed]   (--quick: fewer pairs, for qemu)
 *
 * test/kernels/test_rabitq.c
 */
#include "kernels.h"
#include "rabitq.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_SEED	UINT64_C(20261206)
#define MAX_REPORTS		20
#define MAX_PADDED		16000
#define MAX_BATCH		33

static const char *const levelNames[] = {"scalar", "avx2", "avx512", "neon"};

static uint64_t baseSeed = DEFAULT_SEED;
static int	quick = 0;
static int	failures = 0;
static long pageSize;

static void
fail(const char *fmt, const char *what, double a, double b, int x, int y, int z)
{
	failures++;
	if (failures > MAX_REPORTS)
		return;
	printf("FAIL %s: ", what);
	printf(fmt, a, b, x, y, z);
	printf(" (seed %llu)\n", (unsigned long long) baseSeed);
}

static double
uniform(uint64_t *state)
{
	return ((double) (vk_splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;
}

static double
gaussian(uint64_t *state)
{
	double		u1 = uniform(state);
	double		u2 = uniform(state);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* One page-aligned region whose end is followed by a PROT_NONE page. */
static uint8_t *
mapGuarded(size_t dataBytes)
{
	size_t		span = ((dataBytes + pageSize - 1) / pageSize) * pageSize;
	char	   *base;

	base = mmap(NULL, span + pageSize, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + span, pageSize, PROT_NONE) != 0)
	{
		perror("mmap");
		exit(2);
	}
	return (uint8_t *) base + span;
}

static void *
allocOrDie(size_t bytes)
{
	void	   *p = malloc(bytes);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}


/* ---------------------------------------------------------------- kernels */

/* Level u_i of a code, read bit by bit (or nibble) from the layout. */
static int
codeLevel(const uint8_t *code, int padded, int bits, int i)
{
	int			u = 0;
	int			j;

	if (bits == 4)
	{
		int			base = i / 128 * 128;
		int			half = (padded - base >= 128) ? 64 : 32;
		int			t = (i - base) % half;
		uint8_t		byte = code[base / 2 + t];

		return (i - base) < half ? (byte & 15) : (byte >> 4);
	}
	if (bits == 2)
	{
		int			base = i / 256 * 256;
		int			quarter = ((padded - base >= 256) ? 256 : padded - base) / 4;
		int			t = (i - base) % quarter;

		return (code[base / 4 + t] >> (2 * ((i - base) / quarter))) & 3;
	}
	for (j = 0; j < bits; j++)
		u |= ((code[j * (padded / 8) + i / 8] >> (i % 8)) & 1) << j;
	return u;
}

/*
 * rbq_code_levels (the index decodes codes with it) against the oracle
 * above, for every width and padded size up to 1,024 plus an odd multiple
 * of 64: the packing of a code of random levels unpacks to those levels.
 */
static void
testCodeLevels(void)
{
	uint64_t	state = baseSeed ^ 0x4C4556454C53ULL;
	int			checked = 0;

	for (int bits = 1; bits <= RBQ_MAX_BITS; bits++)
		for (int padded = 64; padded <= 1088; padded += 64)
		{
			double	   *r = malloc(sizeof(double) * padded);
			uint8_t    *code = malloc(rbq_code_bytes(padded, bits));
			uint8_t    *u = malloc(padded);
			void	   *work = malloc(rbq_work_size(padded));
			RbqFactors	f;

			for (int i = 0; i < padded; i++)
				r[i] = (double) (vk_splitmix64(&state) >> 11) / 9007199254740992.0 - 0.5;
			rbq_encode_rotated(r, padded, bits, work, code, &f);
			rbq_code_levels(code, padded, bits, u);
			for (int i = 0; i < padded; i++)
				if (u[i] != codeLevel(code, padded, bits, i))
				{
					fail("bits %g (%g): level %d of padded %d is %d", "rbq_code_levels", bits, 0, i, padded, u[i]);
					break;
				}
			checked++;
			free(r);
			free(code);
			free(u);
			free(work);
		}
	printf("rbq_code_levels: %d codes unpacked\n", checked);
}

/* The oracle: unpack the levels and multiply, in 64 bits. */
static int64_t
naiveDot(const uint8_t *layout, const uint8_t *code, int padded, int bits)
{
	int64_t		sum = 0;
	int			i;

	for (i = 0; i < padded; i++)
		sum += (int64_t) codeLevel(code, padded, bits, i) * layout[i];
	return sum;
}

/* Random bytes with a per-case bias, so that dense and sparse planes occur */
static void
fillBiased(uint8_t *p, size_t n, uint64_t *state)
{
	int			mode = (int) (vk_splitmix64(state) % 4);
	size_t		i;

	for (i = 0; i < n; i++)
	{
		uint64_t	r = vk_splitmix64(state);

		switch (mode)
		{
			case 0:
				p[i] = (uint8_t) r;
				break;
			case 1:
				p[i] = (uint8_t) (r & (r >> 8) & (r >> 16));	/* sparse */
				break;
			case 2:
				p[i] = (uint8_t) (r | (r >> 8) | (r >> 16));	/* dense */
				break;
			default:
				p[i] = (uint8_t) ((r & 1) ? 0xff : 0x00);
				break;
		}
	}
}

static void
testKernelCase(const VectorKernels *t, int padded, int bits, int count,
			   uint64_t *state, uint8_t *codeGuard, uint8_t *layoutGuard,
			   uint8_t *qu)
{
	size_t		codeBytes = rbq_code_bytes(padded, bits);
	size_t		layoutBytes = rbq_query_layout_bytes(padded);
	uint8_t    *layout = layoutGuard - layoutBytes;
	const uint8_t *codes[MAX_BATCH];
	int32_t		out[MAX_BATCH + 1];
	int			c;

	fillBiased(qu, padded, state);
	rbq_query_layout_fill(qu, padded, layout);
	/* codes packed back to back, odd gaps between, the last at the guard */
	for (c = count - 1; c >= 0; c--)
	{
		uint8_t    *p = codeGuard - (size_t) (count - c) * (codeBytes + 3) + 3;

		if (c == count - 1)
			p = codeGuard - codeBytes;
		fillBiased(p, codeBytes, state);
		codes[c] = p;
	}
	out[count] = 12345;
	t->rbq_dot_batch(layout, codes, count, padded, bits, out);
	if (out[count] != 12345)
		fail("%g %g padded %d bits %d count %d", "rbq_dot_batch wrote past count",
			 0, 0, padded, bits, count);
	for (c = 0; c < count; c++)
	{
		int64_t		ref = naiveDot(layout, codes[c], padded, bits);
		int32_t		single = t->rbq_dot(layout, codes[c], padded, bits);

		if ((int64_t) out[c] != ref || (int64_t) single != ref)
		{
			char		what[64];

			snprintf(what, sizeof(what), "%s rbq_dot (code %d)", t->name, c);
			fail("batch %g single %g, padded %d bits %d count %d", what,
				 (double) out[c], (double) single, padded, bits, count);
			printf("     oracle %lld\n", (long long) ref);
		}
	}
}

static void
testKernels(const VectorKernels *t)
{
	size_t		maxCodes = (size_t) MAX_BATCH * (rbq_code_bytes(MAX_PADDED, 8) + 3);
	uint8_t    *codeGuard = mapGuarded(maxCodes);
	uint8_t    *layoutGuard = mapGuarded(rbq_query_layout_bytes(MAX_PADDED));
	uint8_t    *qu = allocOrDie(MAX_PADDED);
	uint64_t	state = baseSeed ^ ((uint64_t) t->level << 40);
	int			before = failures;
	int			ncase = 0;
	int			padded,
				bits;

	for (padded = 64; padded <= 2112; padded += 64)
		for (bits = 1; bits <= 8; bits++)
		{
			/* every count 1..33 comes up for every bits, across paddeds */
			int			count = 1 + (ncase++ * 7 + bits) % MAX_BATCH;

			testKernelCase(t, padded, bits, count, &state, codeGuard,
						   layoutGuard, qu);
		}
	for (bits = 1; bits <= 8; bits++)
		testKernelCase(t, MAX_PADDED, bits, quick ? 2 : 5, &state, codeGuard,
					   layoutGuard, qu);

	/* the largest dot there is: all levels and query bytes at their top */
	{
		size_t		layoutBytes = rbq_query_layout_bytes(MAX_PADDED);
		uint8_t    *layout = layoutGuard - layoutBytes;
		size_t		codeBytes = rbq_code_bytes(MAX_PADDED, 8);
		const uint8_t *code = codeGuard - codeBytes;
		int32_t		got;

		memset(qu, 255, MAX_PADDED);
		rbq_query_layout_fill(qu, MAX_PADDED, layout);
		memset(codeGuard - codeBytes, 0xff, codeBytes);
		t->rbq_dot_batch(layout, &code, 1, MAX_PADDED, 8, &got);
		if ((int64_t) got != (int64_t) 255 * 255 * MAX_PADDED)
			fail("got %g want %g (%d %d %d)", "rbq_dot at its maximum",
				 (double) got, 255.0 * 255.0 * MAX_PADDED, 0, 0, 0);
	}

	printf("rbq_dot %s: bits 1..8 x padded 64..2112 and 16000, batches 1..%d "
		   "at a guard page, vs oracle: %s\n",
		   t->name, MAX_BATCH, failures == before ? "OK" : "FAILED");
	free(qu);
}


/* --------------------------------------------------------------- rotation */

/* FNV-1a over bytes, for the pinned checksums */
static uint64_t
fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#define FNV_BASIS	UINT64_C(0xcbf29ce484222325)

/*
 * Pinned: the signs of the rotation for (dim 128, seed 18) and (dim 16000,
 * seed 42), and rbq_rotate of x_i = (i % 7) - 3 at dim 100, seed 18.  The
 * transform uses only additions, negations and one multiplication per
 * element, so the float results are the same bits on every IEEE platform.
 */
#define PIN_SIGNS_128	UINT64_C(0x6ebe702627969e3a)
#define PIN_SIGNS_16000	UINT64_C(0xe5ef36ad019e19e6)
#define PIN_ROTATE_100	UINT64_C(0x1a85a2c8760baa9f)

static void
testRotation(void)
{
	static const int dims[] = {1, 2, 3, 63, 64, 65, 100, 127, 128, 129, 200,
	768, 1000, 1536, 2047, 3072, 16000};
	RbqRotation *rot = allocOrDie(rbq_rotation_size(RBQ_MAX_DIM));
	double	   *x = allocOrDie(sizeof(double) * (RBQ_MAX_DIM + 64));
	double	   *rx = allocOrDie(sizeof(double) * (RBQ_MAX_DIM + 64));
	double	   *ry = allocOrDie(sizeof(double) * (RBQ_MAX_DIM + 64));
	double	   *back = allocOrDie(sizeof(double) * (RBQ_MAX_DIM + 64));
	float	   *fx = allocOrDie(sizeof(float) * (RBQ_MAX_DIM + 64));
	float	   *fy = allocOrDie(sizeof(float) * (RBQ_MAX_DIM + 64));
	float	   *fout = allocOrDie(sizeof(float) * (RBQ_MAX_DIM + 64));
	uint64_t	state = baseSeed ^ UINT64_C(0x526f74);
	uint64_t	h;
	int			before = failures;
	int			di,
				i,
				trial;

	for (di = 0; di < (int) (sizeof(dims) / sizeof(dims[0])); di++)
	{
		int			dim = dims[di];
		int			padded = rbq_padded(dim);

		if (padded % 64 != 0 || padded < dim || padded - dim >= 64)
			fail("%g %g dim %d padded %d %d", "rbq_padded", 0, 0, dim, padded, 0);
		if (rbq_rotation_size(dim) > rbq_rotation_size(RBQ_MAX_DIM))
			fail("%g %g dim %d %d %d", "rbq_rotation_size grows past the maximum",
				 0, 0, dim, 0, 0);
		rbq_rotation_init(rot, dim, vk_splitmix64(&state));
		for (trial = 0; trial < 3; trial++)
		{
			double		xx = 0,
						yy = 0,
						xy = 0,
						rxx = 0,
						ryy = 0,
						rxy = 0,
						fxy = 0,
						bb = 0,
						diff = 0;

			for (i = 0; i < dim; i++)
			{
				/* trial 2: one-hot, the hardest case for spreading */
				fx[i] = trial == 2 ? (i == dim / 2) : (float) gaussian(&state);
				fy[i] = (float) gaussian(&state);
				xx += (double) fx[i] * fx[i];
				yy += (double) fy[i] * fy[i];
				xy += (double) fx[i] * fy[i];
			}
			rbq_rotate_double(rot, fx, NULL, rx);
			rbq_rotate_double(rot, fy, NULL, ry);
			for (i = 0; i < padded; i++)
			{
				rxx += rx[i] * rx[i];
				ryy += ry[i] * ry[i];
				rxy += rx[i] * ry[i];
			}
			if (!(fabs(rxx - xx) <= 1e-12 * xx) || !(fabs(ryy - yy) <= 1e-12 * yy) ||
				!(fabs(rxy - xy) <= 1e-12 * sqrt(xx * yy)))
				fail("|Px|^2 %.17g vs %.17g, dim %d trial %d %d",
					 "rotation (double) is not orthogonal", rxx, xx, dim, trial, 0);

			/* the float version: the same, rounded once per coordinate */
			rbq_rotate(rot, fx, fout);
			for (i = 0; i < padded; i++)
				fxy += (double) fout[i] * ry[i];
			if (!(fabs(fxy - xy) <= 1e-6 * sqrt(xx * yy)))
				fail("<Px, Py> %.9g vs %.9g, dim %d trial %d %d",
					 "rotation (float) is not orthogonal", fxy, xy, dim, trial, 0);

			/* P^T P x = x */
			rbq_rotate_inverse(rot, rx, back);
			for (i = 0; i < dim; i++)
			{
				diff += (back[i] - fx[i]) * (back[i] - fx[i]);
				bb += back[i] * back[i];
			}
			if (!(diff <= 1e-24 * xx))
				fail("|P^T P x - x|^2 %.3g vs |x|^2 %.3g, dim %d trial %d %d",
					 "inverse rotation", diff, xx, dim, trial, 0);
		}
	}

	/* determinism */
	rbq_rotation_init(rot, 128, 18);
	h = fnv1a(rot->signs, sizeof(uint64_t) * 2 * RBQ_ROUNDS * 2, FNV_BASIS);
	if (h != PIN_SIGNS_128)
		fail("%g %g: got 0x%08x%08x (%d)", "pinned signs, dim 128 seed 18",
			 0, 0, (int) (h >> 32), (int) (uint32_t) h, 0);
	rbq_rotation_init(rot, 16000, 42);
	h = fnv1a(rot->signs, sizeof(uint64_t) * 2 * RBQ_ROUNDS * 250, FNV_BASIS);
	if (h != PIN_SIGNS_16000)
		fail("%g %g: got 0x%08x%08x (%d)", "pinned signs, dim 16000 seed 42",
			 0, 0, (int) (h >> 32), (int) (uint32_t) h, 0);
	rbq_rotation_init(rot, 100, 18);
	for (i = 0; i < 100; i++)
		x[i] = fx[i] = (float) (i % 7 - 3);
	rbq_rotate(rot, fx, fout);
	h = fnv1a(fout, sizeof(float) * 128, FNV_BASIS);
	if (h != PIN_ROTATE_100)
		fail("%g %g: got 0x%08x%08x (%d)", "pinned rotation of dim 100 seed 18",
			 0, 0, (int) (h >> 32), (int) (uint32_t) h, 0);
	/* another seed, another rotation */
	rbq_rotation_init(rot, 100, 19);
	rbq_rotate(rot, fx, fy);
	if (memcmp(fy, fout, sizeof(float) * 128) == 0)
		fail("%g %g %d %d %d", "seeds 18 and 19 give the same rotation",
			 0, 0, 0, 0, 0);

	printf("rotation: orthogonal (double 1e-12, float 1e-6), inverse, pinned "
		   "checksums: %s\n", failures == before ? "OK" : "FAILED");
	free(rot);
	free(x);
	free(rx);
	free(ry);
	free(back);
	free(fx);
	free(fy);
	free(fout);
}


/* ------------------------------------------------------------ lower bound */

static const char *const metricNames[] = {"l2", "ip", "cosine"};

typedef struct BoundStats
{
	long		pairs;
	long		tight;			/* pairs whose bound came within 1e-6 */
} BoundStats;

static BoundStats bstats;

/* The exact distance of the original floats, in long double. */
static long double
exactDistance(RbqMetric metric, const float *x, const float *q, int dim)
{
	long double sum = 0.0L;
	int			i;

	for (i = 0; i < dim; i++)
	{
		if (metric == RBQ_METRIC_L2)
		{
			long double d = (long double) x[i] - (long double) q[i];

			sum += d * d;
		}
		else
			sum += (long double) x[i] * (long double) q[i];
	}
	if (metric == RBQ_METRIC_IP)
		return -sum;
	if (metric == RBQ_METRIC_COSINE)
		return 1.0L - sum;
	return sum;
}

static void
checkLower(const char *what, RbqMetric metric, int bits, int dim,
		   long double exact, float lower, float estimate)
{
	bstats.pairs++;
	if (!((long double) lower <= exact))
	{
		char		buf[128];

		snprintf(buf, sizeof(buf), "lower bound above exact (%s, %s)",
				 what, metricNames[metric]);
		fail("lower %.9g > exact %.17g, bits %d dim %d %d", buf,
			 (double) lower, (double) exact, bits, dim, 0);
		printf("     estimate %.9g\n", (double) estimate);
	}
	else if ((double) (exact - (long double) lower) <=
			 1e-6 * fabs((double) exact) + 1e-30)
		bstats.tight++;
}

/*
 * Encode nx data vectors and score nq queries against all of them, under
 * each metric and bits, with the dot from every level's kernel (they must
 * agree, so the score does too).
 */
static void
boundBlock(const char *what, int dim, const float *xs, int nx,
		   const float *qs, int nq, const float *center, uint64_t seed,
		   int bitsFrom, int bitsTo)
{
	int			padded = rbq_padded(dim);
	RbqRotation *rot = allocOrDie(rbq_rotation_size(dim));
	void	   *work = allocOrDie(rbq_work_size(padded));
	RbqQuery   *query = allocOrDie(rbq_query_size(padded));
	uint8_t    *codes = allocOrDie(rbq_code_bytes(padded, 8) * (size_t) nx);
	RbqFactors *factors = allocOrDie(sizeof(RbqFactors) * (size_t) nx);
	float	   *nxs = allocOrDie(sizeof(float) * (size_t) dim * nx);
	float	   *nqs = allocOrDie(sizeof(float) * (size_t) dim * nq);
	float	   *ncenter = allocOrDie(sizeof(float) * (size_t) dim);
	int			metric,
				bits,
				i,
				k;

	rbq_rotation_init(rot, dim, seed);
	for (metric = RBQ_METRIC_L2; metric <= RBQ_METRIC_COSINE; metric++)
	{
		const float *mx = xs;
		const float *mq = qs;
		const float *mc = center;

		if (metric == RBQ_METRIC_COSINE)
		{
			/* unit vectors, as the index stores them; zero ones are skipped */
			for (i = 0; i < nx + nq; i++)
			{
				const float *src = i < nx ? xs + (size_t) i * dim : qs + (size_t) (i - nx) * dim;
				float	   *dst = i < nx ? nxs + (size_t) i * dim : nqs + (size_t) (i - nx) * dim;
				double		nn = 0.0;

				for (k = 0; k < dim; k++)
					nn += (double) src[k] * src[k];
				nn = sqrt(nn);
				for (k = 0; k < dim; k++)
					dst[k] = nn > 0.0 ? (float) (src[k] / nn) : 0.0f;
			}
			if (center != NULL)
			{
				/* the mean of the unit vectors */
				for (k = 0; k < dim; k++)
				{
					double		s = 0.0;

					for (i = 0; i < nx; i++)
						s += nxs[(size_t) i * dim + k];
					ncenter[k] = (float) (s / nx);
				}
				mc = ncenter;
			}
			mx = nxs;
			mq = nqs;
		}
		for (bits = bitsFrom; bits <= bitsTo; bits++)
		{
			size_t		cb = rbq_code_bytes(padded, bits);

			for (i = 0; i < nx; i++)
				rbq_encode(rot, mx + (size_t) i * dim, mc, bits, work,
						   codes + cb * i, &factors[i]);
			for (k = 0; k < nq; k++)
			{
				const float *q = mq + (size_t) k * dim;

				rbq_query_prepare(rot, (RbqMetric) metric, bits, mc, q, work, query);
				for (i = 0; i < nx; i++)
				{
					const float *x = mx + (size_t) i * dim;
					int32_t		dot = vk_active->rbq_dot(query->layout, codes + cb * i,
														 padded, bits);
					float		est,
								low;

					rbq_score(query, &factors[i], dot, &est, &low);
					checkLower(what, (RbqMetric) metric, bits, dim,
							   exactDistance((RbqMetric) metric, x, q, dim),
							   low, est);
				}
			}
		}
	}
	free(rot);
	free(work);
	free(query);
	free(codes);
	free(factors);
	free(nxs);
	free(nqs);
	free(ncenter);
}

/* The kinds of data of the adversarial blocks. */
typedef enum
{
	DATA_GAUSS,					/* N(0, 1) */
	DATA_CLUSTERED,				/* a few tight clusters, off the origin */
	DATA_ALL_EQUAL,				/* x_i = a for all i, a per vector */
	DATA_ONE_HOT,				/* one coordinate set */
	DATA_ZERO,					/* zeros, and a few gaussians */
	NDATA
} DataKind;

static const char *const dataNames[] = {"gauss", "clustered", "all-equal",
"one-hot", "zero"};

static void
makeData(DataKind kind, float *v, int n, int dim, double scale,
		 uint64_t *state)
{
	double		centres[4][8];
	int			i,
				k;

	for (i = 0; i < 4; i++)
		for (k = 0; k < 8; k++)
			centres[i][k] = 3.0 * gaussian(state);
	for (i = 0; i < n; i++)
	{
		float	   *x = v + (size_t) i * dim;
		double		a = gaussian(state);
		int			c = (int) (vk_splitmix64(state) % 4);
		int			hot = (int) (vk_splitmix64(state) % dim);

		for (k = 0; k < dim; k++)
		{
			double		val;

			switch (kind)
			{
				case DATA_GAUSS:
					val = gaussian(state);
					break;
				case DATA_CLUSTERED:
					val = centres[c][k % 8] + 0.05 * gaussian(state);
					break;
				case DATA_ALL_EQUAL:
					val = a;
					break;
				case DATA_ONE_HOT:
					val = (k == hot) ? (a > 0 ? 1.0 : -1.0) : 0.0;
					break;
				default:
					val = (i % 3 == 2) ? gaussian(state) : 0.0;
					break;
			}
			x[k] = (float) (val * scale);
		}
	}
}

/*
 * Random and adversarial pairs from the original floats.  Queries are fresh
 * vectors of the same kind, the data vectors themselves, their negations,
 * and (clustered data) a small perturbation of a data vector.
 */
static void
testBoundPairs(void)
{
	static const int dims[] = {1, 2, 3, 63, 64, 65, 128, 300, 16000};
	static const double scales[] = {1.0, 1e-20, 1e20};
	uint64_t	state = baseSeed ^ UINT64_C(0x426f756e64);
	int			before = failures;
	long		pairsBefore = bstats.pairs;
	int			di,
				kind,
				si,
				cmode,
				i,
				k;

	for (di = 0; di < (int) (sizeof(dims) / sizeof(dims[0])); di++)
	{
		int			dim = dims[di];
		int			big = dim >= 16000;
		int			nx = big ? 3 : (quick ? 6 : 12);
		int			nq = big ? 3 : (quick ? 6 : 12);

		for (kind = 0; kind < NDATA; kind++)
			for (si = 0; si < 3; si++)
				for (cmode = 0; cmode < 3; cmode++)
				{
					float	   *xs = allocOrDie(sizeof(float) * (size_t) dim * nx);
					float	   *qs = allocOrDie(sizeof(float) * (size_t) dim * (nq + 3));
					float	   *center = allocOrDie(sizeof(float) * (size_t) dim);
					char		what[96];

					if (big && (si > 0 || cmode == 2 || kind == DATA_ZERO))
					{
						free(xs);
						free(qs);
						free(center);
						continue;
					}
					makeData((DataKind) kind, xs, nx, dim, scales[si], &state);
					makeData((DataKind) kind, qs, nq - 3, dim, scales[si], &state);
					/* the query equal to a data vector, its negation, and a
					 * data vector nudged by one float step in each coordinate */
					for (k = 0; k < dim; k++)
					{
						float		v = xs[k];

						qs[(size_t) (nq - 3) * dim + k] = v;
						qs[(size_t) (nq - 2) * dim + k] = -xs[(size_t) (nx - 1) * dim + k];
						qs[(size_t) (nq - 1) * dim + k] = nextafterf(v, INFINITY);
					}
					/* centres: zero, the data mean, and far off */
					for (k = 0; k < dim; k++)
					{
						double		s = 0.0;

						for (i = 0; i < nx; i++)
							s += xs[(size_t) i * dim + k];
						center[k] = cmode == 1 ? (float) (s / nx) :
							cmode == 2 ? (float) (100.0 * scales[si] * (1 + k % 3)) : 0.0f;
					}
					snprintf(what, sizeof(what), "%s dim %d scale %g centre %s",
							 dataNames[kind], dim, scales[si],
							 cmode == 0 ? "zero" : cmode == 1 ? "mean" : "far");
					boundBlock(what, dim, xs, nx, qs, nq,
							   cmode == 0 ? NULL : center,
							   vk_splitmix64(&state), 1, 8);
					free(xs);
					free(qs);
					free(center);
				}
	}
	printf("lower bound, %ld pairs (random and adversarial, 3 metrics x bits "
		   "1..8): %s\n", bstats.pairs - pairsBefore,
		   failures == before ? "OK" : "FAILED");
}

/*
 * Tight pairs, built in the rotated space: r = s (u - m) exactly, so the
 * code fits r with no residual, and a query on its own 8-bit grid, so that
 * its quantisation error is zero; or r on a query grid, with a residual,
 * and queries along r.  The bound then has nothing to spare but its slack
 * and directed roundings.  Queries: r itself (exact distance 0
 * for L2), -r, random grid points, and r with one grid step added to a
 * coordinate.  The exact value comes from the doubles r and q' in long
 * double.
 */
static void
testBoundTight(void)
{
	static const int paddeds[] = {64, 128, 192, 1024, 16000};
	uint64_t	state = baseSeed ^ UINT64_C(0x5469676874);
	int			before = failures;
	long		pairsBefore = bstats.pairs;
	long		tightBefore = bstats.tight;
	int			pi,
				bits,
				metric,
				trial,
				i;

	for (pi = 0; pi < (int) (sizeof(paddeds) / sizeof(paddeds[0])); pi++)
	{
		int			padded = paddeds[pi];
		double	   *r = allocOrDie(sizeof(double) * padded);
		double	   *qr = allocOrDie(sizeof(double) * padded);
		uint8_t    *u = allocOrDie(padded);
		uint8_t    *code = allocOrDie(rbq_code_bytes(padded, 8));
		void	   *work = allocOrDie(rbq_work_size(padded));
		RbqQuery   *query = allocOrDie(rbq_query_size(padded));
		int			trials = padded >= 16000 ? 2 : (quick ? 20 : 60);

		for (bits = 1; bits <= 8; bits++)
			for (trial = 0; trial < trials; trial++)
			{
				int			levels = 1 << bits;
				double		m = (levels - 1) / 2.0;
				/* a float scale, so that s * (u - m) is exact in double */
				double		s = (double) (float) (uniform(&state) *
												 pow(2.0, (int) (vk_splitmix64(&state) % 41) - 20));
				double		delta = (double) (float) (s * (0.5 + uniform(&state)));
				RbqFactors	f;

				for (i = 0; i < padded; i++)
				{
					u[i] = (uint8_t) (vk_splitmix64(&state) % levels);
					if (i == 0)
						u[i] = 0;	/* both extremes, so max |r_i| = s m */
					if (i == 1)
						u[i] = (uint8_t) (levels - 1);
					r[i] = s * ((double) u[i] - m);
				}
				/*
				 * Odd trials: r on the query's grid instead, r = s (k - 128)
				 * with k in 0..255, so the code leaves a residual; a query
				 * that is a multiple of r (queries 0, 1 and 3 below) has its
				 * orthogonal part along that residual, where Cauchy-Schwarz
				 * is tight, and lies on its own grid too.
				 */
				if (trial & 1)
					for (i = 0; i < padded; i++)
						r[i] = s * ((double) (i == 0 ? 0 : i == 1 ? 255 :
											  (int) (vk_splitmix64(&state) % 256)) - 128.0);
				rbq_encode_rotated(r, padded, bits, work, code, &f);

				for (metric = RBQ_METRIC_L2; metric <= RBQ_METRIC_IP; metric++)
				{
					int			qk;

					for (qk = 0; qk < 4; qk++)
					{
						long double exact = 0.0L;
						int32_t		dot;
						float		est,
									low;

						for (i = 0; i < padded; i++)
						{
							switch (qk)
							{
								case 0:
									qr[i] = r[i];
									break;
								case 1:
									qr[i] = -r[i];
									break;
								case 2:
									/* grid points delta (k - 128), k in 0..255 */
									qr[i] = delta * ((double) (i == 0 ? 0 : i == 1 ? 255 :
															   (int) (vk_splitmix64(&state) % 256)) - 128.0);
									break;
								default:
									/* odd trials: a float multiple of r, on its grid */
									if (trial & 1)
										qr[i] = r[i] / s * (double) (float) (s * 1.25);
									else
										qr[i] = r[i] + (i == 2 ? s : 0.0);
									break;
							}
						}
						rbq_query_prepare_rotated(qr, padded, (RbqMetric) metric,
												  bits, query);
						dot = vk_active->rbq_dot(query->layout, code, padded, bits);
						rbq_score(query, &f, dot, &est, &low);
						for (i = 0; i < padded; i++)
						{
							if (metric == RBQ_METRIC_L2)
							{
								long double d = (long double) r[i] - (long double) qr[i];

								exact += d * d;
							}
							else
								exact -= (long double) r[i] * (long double) qr[i];
						}
						checkLower("tight", (RbqMetric) metric, bits, padded,
								   exact, low, est);
					}
				}
			}
		free(r);
		free(qr);
		free(u);
		free(code);
		free(work);
		free(query);
	}
	printf("lower bound, %ld tight pairs (code fits exactly, query on its "
		   "grid; %ld within 1e-6 of exact): %s\n",
		   bstats.pairs - pairsBefore, bstats.tight - tightBefore,
		   failures == before ? "OK" : "FAILED");
}

/* Many random pairs at 128 dimensions: the bulk of the 100,000+. */
static void
testBoundRandom(void)
{
	int			dim = 128;
	int			nx = quick ? 30 : 120;
	int			nq = quick ? 30 : 120;
	uint64_t	state = baseSeed ^ UINT64_C(0x52616e64);
	float	   *xs = allocOrDie(sizeof(float) * (size_t) dim * nx);
	float	   *qs = allocOrDie(sizeof(float) * (size_t) dim * nq);
	float	   *center = allocOrDie(sizeof(float) * (size_t) dim);
	int			before = failures;
	long		pairsBefore = bstats.pairs;
	int			i,
				k;

	makeData(DATA_CLUSTERED, xs, nx, dim, 1.0, &state);
	makeData(DATA_CLUSTERED, qs, nq, dim, 1.0, &state);
	for (k = 0; k < dim; k++)
	{
		double		s = 0.0;

		for (i = 0; i < nx; i++)
			s += xs[(size_t) i * dim + k];
		center[k] = (float) (s / nx);
	}
	boundBlock("clustered 128", dim, xs, nx, qs, nq, center, 18, 1, 8);
	printf("lower bound, %ld random pairs at 128 dimensions: %s\n",
		   bstats.pairs - pairsBefore, failures == before ? "OK" : "FAILED");
	free(xs);
	free(qs);
	free(center);
}


/* -------------------------------------------------------------- estimator */

typedef struct Scored
{
	double		d;
	int			id;
} Scored;

static int
compareScored(const void *a, const void *b)
{
	const Scored *x = a;
	const Scored *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id - y->id;
}

/*
 * Measured (full run, 100 queries; seeds 20261206, 1, 2): recall@10 at
 * 1 bit 0.916, 0.923, 0.927 for L2 and 0.957-0.972 for IP; at 4 bits 1.000.
 * The thresholds sit a little under the lowest.
 */
#define SPREAD0			1.0
#define SPREADK			1.5
#define RECALL_MIN_1BIT		0.90
#define RECALL_MIN_4BIT		0.99

/*
 * A clustered set of vectors and queries, with what coding them needs:
 * the vectors' mean, a rotation, scratch, a query and room for the codes
 * (of up to 8 bits) and their factors.
 */
typedef struct CodedSet
{
	float	   *xs;				/* n vectors */
	float	   *qs;				/* nq queries */
	float	   *mean;
	RbqRotation *rot;
	void	   *work;
	RbqQuery   *query;
	uint8_t    *codes;
	RbqFactors *factors;
} CodedSet;

/*
 * The vectors and queries are drawn around nclusters gaussian centres.
 * The spread within a cluster falls off per dimension as in real
 * embeddings (a few directions carry most of the variance): from 1 to 0.22
 * of the spread of the cluster centres.
 */
static CodedSet
clusteredSet(int dim, int n, int nq, int nclusters, uint64_t state, uint64_t rotSeed)
{
	int			padded = rbq_padded(dim);
	float	   *centres = allocOrDie(sizeof(float) * (size_t) dim * nclusters);
	double	   *spread = allocOrDie(sizeof(double) * (size_t) dim);
	CodedSet	set;

	set.xs = allocOrDie(sizeof(float) * (size_t) dim * n);
	set.qs = allocOrDie(sizeof(float) * (size_t) dim * nq);
	set.mean = allocOrDie(sizeof(float) * (size_t) dim);
	set.rot = allocOrDie(rbq_rotation_size(dim));
	set.work = allocOrDie(rbq_work_size(padded));
	set.query = allocOrDie(rbq_query_size(padded));
	set.codes = allocOrDie(rbq_code_bytes(padded, 8) * (size_t) n);
	set.factors = allocOrDie(sizeof(RbqFactors) * (size_t) n);
	for (int j = 0; j < dim; j++)
		spread[j] = SPREAD0 * exp(-SPREADK * j / dim);
	for (int c = 0; c < nclusters * dim; c++)
		centres[c] = (float) gaussian(&state);
	for (int i = 0; i < n + nq; i++)
	{
		float	   *x = i < n ? set.xs + (size_t) i * dim : set.qs + (size_t) (i - n) * dim;
		int			c = (int) (vk_splitmix64(&state) % nclusters);

		for (int j = 0; j < dim; j++)
			x[j] = centres[c * dim + j] + (float) (spread[j] * gaussian(&state));
	}
	for (int j = 0; j < dim; j++)
	{
		double		sum = 0.0;

		for (int i = 0; i < n; i++)
			sum += set.xs[(size_t) i * dim + j];
		set.mean[j] = (float) (sum / n);
	}
	rbq_rotation_init(set.rot, dim, rotSeed);
	free(centres);
	free(spread);
	return set;
}

static void
setFree(CodedSet *set)
{
	free(set->xs);
	free(set->qs);
	free(set->mean);
	free(set->rot);
	free(set->work);
	free(set->query);
	free(set->codes);
	free(set->factors);
}

static void
testEstimator(void)
{
	const int	dim = 128;
	const int	n = 2000;
	const int	nq = quick ? 30 : 100;
	const int	nclusters = 20;
	const int	k = 10;
	const int	rerank = 50;
	int			padded = rbq_padded(dim);
	CodedSet	set = clusteredSet(dim, n, nq, nclusters, baseSeed ^ UINT64_C(0x457374), 18);
	float	   *xs = set.xs;
	float	   *qs = set.qs;
	float	   *mean = set.mean;
	RbqRotation *rot = set.rot;
	void	   *work = set.work;
	RbqQuery   *query = set.query;
	uint8_t    *codes = set.codes;
	const uint8_t **ptrs = allocOrDie(sizeof(uint8_t *) * (size_t) n);
	RbqFactors *factors = set.factors;
	int32_t    *dots = allocOrDie(sizeof(int32_t) * (size_t) n);
	Scored	   *byEst = allocOrDie(sizeof(Scored) * (size_t) n);
	Scored	   *byExact = allocOrDie(sizeof(Scored) * (size_t) n);
	float	   *lows = allocOrDie(sizeof(float) * (size_t) n);
	double	   *exact = allocOrDie(sizeof(double) * (size_t) n * nq);
	double		prevErr[3] = {INFINITY, INFINITY, INFINITY};

	/*
	 * Mean cosine of code and vector, measured 0.80419, 0.94240, 0.98317,
	 * 0.99532, 0.99879, 0.99970, 0.99993, 0.99998 for 1..8 bits (1 bit:
	 * sqrt(2/pi) = 0.798 is what signs of gaussian coordinates give); each
	 * floor lets 1 - cosine grow by a quarter.
	 */
	static const double cosineMin[9] = {0, 0.755, 0.928, 0.979, 0.9941,
	0.99849, 0.99962, 0.99991, 0.999977};
	int			before = failures;
	int			metric,
				bits,
				i,
				j;


	printf("estimator: %d clustered vectors, %d dims, %d queries; recall@%d "
		   "of the top %d by estimate re-ranked exactly, mean |est - exact|\n",
		   n, dim, nq, k, rerank);
	for (metric = RBQ_METRIC_L2; metric <= RBQ_METRIC_IP; metric++)
	{
		for (i = 0; i < nq; i++)
			for (j = 0; j < n; j++)
				exact[(size_t) i * n + j] = (double)
					exactDistance((RbqMetric) metric, xs + (size_t) j * dim,
								  qs + (size_t) i * dim, dim);
		for (bits = 1; bits <= 8; bits++)
		{
			size_t		cb = rbq_code_bytes(padded, bits);
			long		found = 0;
			double		errSum = 0.0,
						errScale = 0.0;
			long		pruned = 0;
			double		recall;
			int			qi;

			double		cosSum = 0.0;

			for (i = 0; i < n; i++)
			{
				rbq_encode(rot, xs + (size_t) i * dim, mean, bits, work,
						   codes + cb * i, &factors[i]);
				ptrs[i] = codes + cb * i;
				cosSum += fabs(factors[i].alpha) * factors[i].wnorm / factors[i].norm;
			}
			/* how well the codes keep their vectors' directions */
			if (metric == RBQ_METRIC_L2)
			{
				printf("  codes  bits %d: mean cosine of code and vector %.6f\n",
					   bits, cosSum / n);
				if (cosSum / n < cosineMin[bits])
					fail("%.4f < %.4f at bits %d (%d %d)",
						 "codes agree with their vectors less than they should",
						 cosSum / n, cosineMin[bits], bits, 0, 0);
			}
			for (qi = 0; qi < nq; qi++)
			{
				const double *ex = exact + (size_t) qi * n;

				rbq_query_prepare(rot, (RbqMetric) metric, bits, mean,
								  qs + (size_t) qi * dim, work, query);
				vk_active->rbq_dot_batch(query->layout, ptrs, n, padded, bits, dots);
				for (i = 0; i < n; i++)
				{
					float		est,
								low;

					rbq_score(query, &factors[i], dots[i], &est, &low);
					lows[i] = low;
					byEst[i].d = est;
					byEst[i].id = i;
					byExact[i].d = ex[i];
					byExact[i].id = i;
					errSum += fabs((double) est - ex[i]);
					errScale += fabs(ex[i]);
				}
				qsort(byEst, n, sizeof(Scored), compareScored);
				qsort(byExact, n, sizeof(Scored), compareScored);
				/* rows the bound alone shows to be outside the exact top k */
				for (i = 0; i < n; i++)
					if (lows[i] > byExact[k - 1].d)
						pruned++;
				/* re-rank the best `rerank` estimates by exact distance */
				for (i = 0; i < rerank; i++)
					byEst[i].d = ex[byEst[i].id];
				qsort(byEst, rerank, sizeof(Scored), compareScored);
				for (i = 0; i < k; i++)
					for (j = 0; j < k; j++)
						if (byEst[i].id == byExact[j].id)
							found++;
			}
			recall = (double) found / ((double) nq * k);
			printf("  %-6s bits %d: recall@%d %.4f, mean |est - exact| %.4g "
				   "(%.4f of mean |exact|), bound excludes %.3f\n",
				   metricNames[metric], bits, k, recall,
				   errSum / ((double) nq * n), errSum / errScale,
				   (double) pruned / ((double) nq * n));
			if (bits == 1 && recall < RECALL_MIN_1BIT)
				fail("recall %.4f < %.2f (%d %d %d)", "estimator recall at 1 bit",
					 recall, RECALL_MIN_1BIT, 0, 0, 0);
			if (bits == 4 && recall < RECALL_MIN_4BIT)
				fail("recall %.4f < %.2f (%d %d %d)", "estimator recall at 4 bits",
					 recall, RECALL_MIN_4BIT, 0, 0, 0);
			if (!(errSum < prevErr[metric]))
				fail("error %.6g not below %.6g at bits %d (%d %d)",
					 "estimator error does not shrink with bits",
					 errSum, prevErr[metric], bits, 0, 0);
			prevErr[metric] = errSum;
		}
	}
	printf("estimator: %s\n", failures == before ? "OK" : "FAILED");
	setFree(&set);
	free(ptrs);
	free(dots);
	free(byEst);
	free(byExact);
	free(lows);
	free(exact);
}


/*
 * rbq_estimate_sigma is the estimate's standard error: on clustered
 * vectors of 512 and 1,536 dimensions (where the scan reads rows in the
 * order of the estimate less 4 of it), z = (estimate - exact) / sigma has
 * a standard deviation near 1 and almost never exceeds 4.  A sigma too
 * small drops rows from results (z too wide); one too large reads rows
 * for nothing (z too narrow).  Measured (seed 20261206): sd 0.92 to 0.99
 * at 1 to 4 bits and 0.68 to 0.71 at 8 (where the query's rounding, counted
 * in full, dominates); beyond 4, at most 3 in 20,000.
 */
static void
testSigma(void)
{
	static const int dims[] = {512, 1536};
	static const int bitsList[] = {1, 2, 4, 8};
	const int	n = quick ? 300 : 1000;
	const int	nq = quick ? 5 : 20;
	const int	nclusters = 20;
	int			before = failures;

	for (int di = 0; di < 2; di++)
	{
		int			dim = dims[di];
		int			padded = rbq_padded(dim);
		CodedSet	set = clusteredSet(dim, n, nq, nclusters, baseSeed ^ UINT64_C(0x5167), 29);

		for (int bi = 0; bi < 4; bi++)
		{
			int			bits = bitsList[bi];
			size_t		cb = rbq_code_bytes(padded, bits);

			for (int i = 0; i < n; i++)
				rbq_encode(set.rot, set.xs + (size_t) i * dim, set.mean, bits, set.work,
						   set.codes + cb * i, &set.factors[i]);
			for (int metric = RBQ_METRIC_L2; metric <= RBQ_METRIC_IP; metric++)
			{
				double		sum = 0.0,
							sum2 = 0.0,
							sd;
				long		count = 0,
							beyond = 0;

				for (int qi = 0; qi < nq; qi++)
				{
					const float *q = set.qs + (size_t) qi * dim;

					rbq_query_prepare(set.rot, (RbqMetric) metric, bits, set.mean, q, set.work,
									  set.query);
					for (int i = 0; i < n; i++)
					{
						int32_t		dot = vk_active->rbq_dot(set.query->layout, set.codes + cb * i,
															 padded, bits);
						double		est = rbq_estimate(set.query, &set.factors[i], dot);
						double		ex = (double) exactDistance((RbqMetric) metric,
																set.xs + (size_t) i * dim, q, dim);
						double		z = (est - ex) / rbq_estimate_sigma(set.query, &set.factors[i]);

						sum += z;
						sum2 += z * z;
						count++;
						if (z > 4.0)
							beyond++;
					}
				}
				sd = sqrt(sum2 / count - (sum / count) * (sum / count));
				printf("  sigma  %4d dims, bits %d, %-6s: sd of z %.3f, mean %.3f, beyond 4: %ld of %ld\n",
					   dim, bits, metricNames[metric], sd, sum / count, beyond, count);
				if (sd > 1.15 || sd < (bits == 8 ? 0.5 : 0.75))
					fail("sd %.3f (mean %.3f) at %d dims, bits %d, metric %d",
						 "rbq_estimate_sigma is not the estimate's standard error",
						 sd, sum / count, dim, bits, metric);
				if (beyond * 1000 > count)
					fail("%g of %g beyond 4 sigma (%d %d %d)",
						 "estimates too often far above the distance",
						 (double) beyond, (double) count, dim, bits, metric);
			}
		}
		setFree(&set);
	}
	printf("sigma: %s\n", failures == before ? "OK" : "FAILED");
}


/*
 * rbq_float_below against nextafterf(f, -INFINITY): the special values,
 * every float around the powers of two and the subnormal edge, and random
 * bit patterns.  A bound one step too high breaks the order of the rows.
 */
static void
testFloatBelow(void)
{
	static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX,
	FLT_MIN, -FLT_MIN, 1.4e-45f, -1.4e-45f, 1.0f, -1.0f};
	uint64_t	state = baseSeed ^ 0x466C6F6174ULL;
	int			before = failures;
	long		n = 0;

	for (int i = 0; i < (int) (sizeof(special) / sizeof(special[0])); i++, n++)
		if (memcmp(&(float) {rbq_float_below(special[i])},
				   &(float) {nextafterf(special[i], -INFINITY)}, sizeof(float)) != 0)
			fail("%g -> %g (case %d %d %d)", "rbq_float_below", special[i],
				 rbq_float_below(special[i]), i, 0, 0);
	if (!isnan(rbq_float_below(NAN)))
		fail("%g %g %d %d %d", "rbq_float_below(NaN) is not NaN", 0, 0, 0, 0, 0);
	for (int e = -149; e <= 127; e++)
		for (int d = -2; d <= 2; d++)
			for (int sign = -1; sign <= 1; sign += 2, n++)
			{
				float		f = sign * nextafterf(ldexpf(1.0f, e), d < 0 ? 0.0f : INFINITY);
				float		want = nextafterf(f, -INFINITY);
				float		got = rbq_float_below(f);

				if (memcmp(&got, &want, sizeof(float)) != 0)
					fail("%g -> %g (exponent %d step %d sign %d)", "rbq_float_below", f, got, e, d, sign);
			}
	for (int i = 0; i < 1000000; i++, n++)
	{
		uint32_t	bits = (uint32_t) vk_splitmix64(&state);
		float		f,
					want,
					got;

		memcpy(&f, &bits, sizeof(f));
		if (isnan(f))
			continue;
		want = nextafterf(f, -INFINITY);
		got = rbq_float_below(f);
		if (memcmp(&got, &want, sizeof(float)) != 0)
			fail("%g -> %g (bits %d %d %d)", "rbq_float_below", f, got, (int) bits, 0, 0);
	}
	printf("rbq_float_below: %ld floats, %s\n", n, failures == before ? "OK" : "FAILED");
}

int
main(int argc, char **argv)
{
	int			lvl;
	int			a;

	for (a = 1; a < argc; a++)
	{
		if (strcmp(argv[a], "--quick") == 0)
			quick = 1;
		else
			baseSeed = strtoull(argv[a], NULL, 10);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pageSize = sysconf(_SC_PAGESIZE);
	vk_init();
	printf("test_rabitq: seed %llu%s, scoring through %s\n",
		   (unsigned long long) baseSeed, quick ? " (quick)" : "",
		   vk_active->name);

	for (lvl = VK_LEVEL_SCALAR; lvl <= VK_LEVEL_NEON; lvl++)
	{
		const VectorKernels *t = vk_table((VkLevel) lvl);

		if (t == NULL)
		{
			printf("rbq_dot %s: not available on this CPU/build, skipped\n",
				   levelNames[lvl]);
			continue;
		}
		testKernels(t);
	}
	testFloatBelow();
	testRotation();
	testCodeLevels();
	testBoundTight();
	testBoundPairs();
	testBoundRandom();
	printf("lower bound: %ld pairs in all\n", bstats.pairs);
	if (!quick && bstats.pairs < 100000)
		fail("%g %g %d %d %d", "fewer than 100,000 pairs checked", 0, 0, 0, 0, 0);
	testEstimator();
	testSigma();

	if (failures > 0)
	{
		printf("%d failure(s)%s\n", failures,
			   failures > MAX_REPORTS ? " (first ones shown)" : "");
		return 1;
	}
	printf("all rabitq tests passed\n");
	return 0;
}
