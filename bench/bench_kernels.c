/*
 * bench_kernels.c
 *	  Micro-benchmark of the float and half distance kernels, per level.
 *
 * Prints ns per distance for L2 (f32_l2sq), inner product (f32_dot), cosine
 * (f32_dot_norms) and L1 (f32_l1), and their f16_ twins on halves of the
 * same values, at the usual embedding sizes, for every level this CPU runs,
 * with the speedup over the scalar table.
 *
 * The query is fixed and the other operand walks a pool of vectors larger
 * than L1 but, by default, within a typical L2 (1 MiB, at most 1000
 * vectors): we measure the kernels, not DRAM.  Calls go through the table's
 * function pointers, as in the server, and results feed a volatile sink so
 * none can be dropped.  Each figure is the median of several timed runs.
 *
 * Then the RaBitQ kernel (rbq_dot_batch, rabitq.h): ns per code, batches of
 * 32 codes as from an HNSW neighbour list, at padded 128, 768, 1536 and
 * 3072 and 1, 2, 4 and 8 bits, beside f32_l2sq_batch on float vectors of
 * the same dimension (ns per vector), every level.
 *
 * Usage: bench_kernels [pool_kib [offset_floats]]
 *		  bench_kernels rabitq		(the RaBitQ part only)
 *	 offset_floats shifts every pool vector off 64-byte alignment (2 mimics
 *	 the 8-byte header in front of a vector's elements on disk pages).
 *
 * bench/bench_kernels.c
 */
#include "kernels.h"
#include "f16.h"
#include "rabitq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NRUNS			11
#define MAX_POOL		1000
#define RUN_NS			5e6	/* aim for 5 ms per timed run */
#ifdef VK_HAVE_NEON
#define NLEVELS			2		/* scalar, neon */
#else
#define NLEVELS			3		/* scalar, avx2, avx512 */
#endif

typedef enum
{
	METRIC_L2,
	METRIC_IP,
	METRIC_COSINE,
	METRIC_L1,
	METRIC_H_L2,				/* the same on halves */
	METRIC_H_IP,
	METRIC_H_COSINE,
	METRIC_H_L1,
	NMETRICS
} Metric;

static const char *const metricNames[NMETRICS] = {
	"L2 (f32_l2sq)", "IP (f32_dot)", "cos (f32_dot_norms)", "L1 (f32_l1)",
	"L2 (f16_l2sq)", "IP (f16_dot)", "cos (f16_dot_norms)", "L1 (f16_l1)"
};

#define IS_HALF(m)	((m) >= METRIC_H_L2)
#define HALVES(p)	((const uint16_t *) (p))

static const int dims[] = {96, 128, 384, 768, 1536};

#define NDIMS ((int) (sizeof(dims) / sizeof(dims[0])))

static volatile float sink;

static double
nowNs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/* Mean ns per distance over iters calls. */
static double
timeRun(const VectorKernels *t, Metric metric, const float *q,
		const float *const *pool, int npool, int d, long iters)
{
	float		acc = 0.0f;
	float		dot,
				aa,
				bb;
	double		start;
	long		i;
	int			j = 0;

	start = nowNs();
	switch (metric)
	{
		case METRIC_L2:
			for (i = 0; i < iters; i++)
			{
				acc += t->f32_l2sq(q, pool[j], d);
				if (++j == npool)
					j = 0;
			}
			break;
		case METRIC_IP:
			for (i = 0; i < iters; i++)
			{
				acc += t->f32_dot(q, pool[j], d);
				if (++j == npool)
					j = 0;
			}
			break;
		case METRIC_COSINE:
			for (i = 0; i < iters; i++)
			{
				t->f32_dot_norms(q, pool[j], d, &dot, &aa, &bb);
				acc += dot + aa + bb;
				if (++j == npool)
					j = 0;
			}
			break;
		case METRIC_L1:
			for (i = 0; i < iters; i++)
			{
				acc += t->f32_l1(q, pool[j], d);
				if (++j == npool)
					j = 0;
			}
			break;
		case METRIC_H_L2:
			for (i = 0; i < iters; i++)
			{
				acc += t->f16_l2sq(HALVES(q), HALVES(pool[j]), d);
				if (++j == npool)
					j = 0;
			}
			break;
		case METRIC_H_IP:
			for (i = 0; i < iters; i++)
			{
				acc += t->f16_dot(HALVES(q), HALVES(pool[j]), d);
				if (++j == npool)
					j = 0;
			}
			break;
		case METRIC_H_COSINE:
			for (i = 0; i < iters; i++)
			{
				t->f16_dot_norms(HALVES(q), HALVES(pool[j]), d, &dot, &aa, &bb);
				acc += dot + aa + bb;
				if (++j == npool)
					j = 0;
			}
			break;
		default:
			for (i = 0; i < iters; i++)
			{
				acc += t->f16_l1(HALVES(q), HALVES(pool[j]), d);
				if (++j == npool)
					j = 0;
			}
			break;
	}
	sink += acc;
	return (nowNs() - start) / (double) iters;
}

static int
compareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* ns[li]: the median of each available level's NRUNS timings */
static void
medianRuns(const VectorKernels *const *tables, int ntables, double runs[][NRUNS], double *ns)
{
	for (int li = 0; li < ntables; li++)
	{
		ns[li] = 0.0;
		if (tables[li] == NULL)
			continue;
		qsort(runs[li], NRUNS, sizeof(double), compareDouble);
		ns[li] = runs[li][NRUNS / 2];
	}
}

/*
 * Fill ns[level] for one metric and dimension.  Each level is calibrated to
 * about RUN_NS a run; then the runs of the levels alternate, so that a
 * noisy spell on a shared machine hits every level alike rather than
 * skewing the speedups, and each figure is the median of NRUNS runs.
 */
static void
measureRow(const VectorKernels *const *tables, int ntables, Metric metric,
		   const float *q, const float *const *pool, int npool, int d,
		   double *ns)
{
	double		runs[NLEVELS][NRUNS];
	long		iters[NLEVELS];
	double		per;
	int			li,
				r;

	for (li = 0; li < ntables; li++)
	{
		if (tables[li] == NULL)
			continue;
		/* warms the pool into cache and the core out of its low clocks */
		per = timeRun(tables[li], metric, q, pool, npool, d, 2000);
		iters[li] = (long) (RUN_NS / (per > 0.1 ? per : 0.1));
		if (iters[li] < 1000)
			iters[li] = 1000;
	}
	for (r = 0; r < NRUNS; r++)
		for (li = 0; li < ntables; li++)
			if (tables[li] != NULL)
				runs[li][r] = timeRun(tables[li], metric, q, pool, npool, d,
									  iters[li]);
	medianRuns(tables, ntables, runs, ns);
}

static float
randomUnit(unsigned int *state)
{
	/* small LCG: the values only have to be finite and varied */
	*state = *state * 1103515245u + 12345u;
	return (float) ((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* ------------------------------------------------------------- RaBitQ */

#define RBQ_BATCH		32

static volatile int32_t isink;

/*
 * Mean ns per code (bits > 0: rbq_dot_batch) or per float vector (bits 0:
 * f32_l2sq_batch), batches of RBQ_BATCH walking the pool.
 */
static double
timeBatches(const VectorKernels *t, const uint8_t *layout, const float *q,
			const void *const *pool, int npool, int padded, int bits,
			long batches)
{
	int32_t		dots[RBQ_BATCH];
	float		dists[RBQ_BATCH];
	int32_t		acc = 0;
	float		facc = 0.0f;
	double		start;
	long		b;
	int			j = 0;

	start = nowNs();
	for (b = 0; b < batches; b++)
	{
		if (bits > 0)
		{
			t->rbq_dot_batch(layout, (const uint8_t *const *) (pool + j),
							 RBQ_BATCH, padded, bits, dots);
			acc += dots[0] + dots[RBQ_BATCH - 1];
		}
		else
		{
			t->f32_l2sq_batch(q, (const float *const *) (pool + j),
							  RBQ_BATCH, padded, dists);
			facc += dists[0] + dists[RBQ_BATCH - 1];
		}
		j += RBQ_BATCH;
		if (j + RBQ_BATCH > npool)
			j = 0;
	}
	isink += acc;
	sink += facc;
	return (nowNs() - start) / ((double) batches * RBQ_BATCH);
}

/* As measureRow: calibrate, alternate the levels' runs, take medians. */
static void
measureRbqRow(const VectorKernels *const *tables, int ntables,
			  const uint8_t *layout, const float *q, const void *const *pool,
			  int npool, int padded, int bits, double *ns)
{
	double		runs[NLEVELS][NRUNS];
	long		batches[NLEVELS];
	double		per;
	int			li,
				r;

	for (li = 0; li < ntables; li++)
	{
		if (tables[li] == NULL)
			continue;
		per = timeBatches(tables[li], layout, q, pool, npool, padded, bits, 200);
		batches[li] = (long) (RUN_NS / (RBQ_BATCH * (per > 0.1 ? per : 0.1)));
		if (batches[li] < 100)
			batches[li] = 100;
	}
	for (r = 0; r < NRUNS; r++)
		for (li = 0; li < ntables; li++)
			if (tables[li] != NULL)
				runs[li][r] = timeBatches(tables[li], layout, q, pool, npool,
										  padded, bits, batches[li]);
	medianRuns(tables, ntables, runs, ns);
}

/*
 * Codes of random data (what they encode does not matter to the kernel,
 * only their size), a pool within L2 as for the float kernels: 1 MiB of
 * codes, or at least 4 batches.
 */
static void
benchRabitq(const VectorKernels *const *tables, const char *const *names)
{
	static const int paddeds[] = {128, 768, 1536, 3072};
	static const int bitsList[] = {1, 2, 4, 8, 0};
	unsigned int rng = 4242;
	int			pi,
				bi,
				li,
				i;

	printf("\nRaBitQ: ns per code, rbq_dot_batch of %d codes (bits 0: "
		   "f32_l2sq_batch, ns per float vector)\n", RBQ_BATCH);
	printf("%-7s %4s %10s", "padded", "bits", names[0]);
	for (li = 1; li < NLEVELS; li++)
		printf(" %10s %8s", names[li], "speedup");
	printf(" %12s\n", "vs f32 best");

	for (pi = 0; pi < (int) (sizeof(paddeds) / sizeof(paddeds[0])); pi++)
	{
		int			padded = paddeds[pi];
		double		l2best = 0.0;
		double		rows[5][NLEVELS];

		/* the float row first, so that each code row can compare with it */
		for (bi = 4; bi >= 0; bi--)
		{
			int			bits = bitsList[bi];
			size_t		itemBytes = bits > 0 ? rbq_code_bytes(padded, bits) :
				(size_t) padded * sizeof(float);
			int			npool = (int) ((1024 * 1024) / itemBytes);
			uint8_t    *block;
			const void **pool;
			uint8_t    *qu = malloc(padded);
			uint8_t    *layout = malloc(rbq_query_layout_bytes(padded));
			float	   *q = malloc(sizeof(float) * padded);
			double	   *ns = rows[bi];

			if (npool > 4096)
				npool = 4096;
			if (npool < 4 * RBQ_BATCH)
				npool = 4 * RBQ_BATCH;
			block = malloc(itemBytes * npool);
			pool = malloc(sizeof(void *) * npool);
			if (!block || !pool || !qu || !layout || !q)
			{
				fprintf(stderr, "out of memory\n");
				exit(2);
			}
			for (i = 0; i < padded; i++)
			{
				qu[i] = (uint8_t) (randomUnit(&rng) * 127.0f + 128.0f);
				q[i] = randomUnit(&rng);
			}
			rbq_query_layout_fill(qu, padded, layout);
			if (bits > 0)
				for (i = 0; i < (int) (itemBytes * npool); i++)
					block[i] = (uint8_t) (randomUnit(&rng) * 127.0f + 128.0f);
			else
				for (i = 0; i < padded * npool; i++)
					((float *) block)[i] = randomUnit(&rng);
			/* neighbours sit at unrelated places: shuffle the pool */
			for (i = 0; i < npool; i++)
				pool[i] = block + itemBytes * i;
			for (i = npool - 1; i > 0; i--)
			{
				int			k = (int) ((randomUnit(&rng) + 1.0f) * 0.5f * i);
				const void *tmp = pool[i];

				pool[i] = pool[k];
				pool[k] = tmp;
			}

			measureRbqRow(tables, NLEVELS, layout, q, pool, npool, padded,
						  bits, ns);
			if (bits == 0)
			{
				l2best = ns[0];
				for (li = 1; li < NLEVELS; li++)
					if (tables[li] && ns[li] < l2best)
						l2best = ns[li];
			}
			free(block);
			free(pool);
			free(qu);
			free(layout);
			free(q);
		}
		for (bi = 0; bi < 5; bi++)
		{
			double		best = rows[bi][0];

			printf("%-7d %4d %10.1f", padded, bitsList[bi], rows[bi][0]);
			for (li = 1; li < NLEVELS; li++)
			{
				if (tables[li])
				{
					printf(" %10.1f %7.1fx", rows[bi][li], rows[bi][0] / rows[bi][li]);
					if (rows[bi][li] < best)
						best = rows[bi][li];
				}
				else
					printf(" %10s %8s", "-", "-");
			}
			printf(" %11.1fx\n", l2best / best);
		}
	}
}

int
main(int argc, char **argv)
{
#ifdef VK_HAVE_NEON
	static const VkLevel levels[NLEVELS] = {VK_LEVEL_SCALAR, VK_LEVEL_NEON};
	static const char *const levelNames[NLEVELS] = {"scalar", "neon"};
#else
	static const VkLevel levels[NLEVELS] = {
		VK_LEVEL_SCALAR, VK_LEVEL_AVX2, VK_LEVEL_AVX512
	};
	static const char *const levelNames[NLEVELS] = {"scalar", "avx2", "avx512"};
#endif
	const VectorKernels *tables[NLEVELS];
	double		ns[NLEVELS];
	long		poolKib = 1024;
	int			offset = 0;
	unsigned int rng = 12345;
	int			di,
				li,
				m,
				i;

	if (argc > 1 && strcmp(argv[1], "rabitq") == 0)
	{
		vk_init();
		for (li = 0; li < NLEVELS; li++)
			tables[li] = vk_table(levels[li]);
		benchRabitq(tables, levelNames);
		return 0;
	}
	if (argc > 1)
		poolKib = atol(argv[1]);
	if (argc > 2)
		offset = atoi(argv[2]);
	if (poolKib < 1 || offset < 0 || offset > 15)
	{
		fprintf(stderr, "usage: %s [pool_kib [offset_floats 0..15]]\n", argv[0]);
		return 2;
	}

	vk_init();
	for (li = 0; li < NLEVELS; li++)
		tables[li] = vk_table(levels[li]);
	printf("detected level: %s (vk_active = %s)\n",
		   vk_table(vk_detect())->name, vk_active->name);
	printf("ns per distance, median of %d runs; pool %ld KiB (max %d vectors), "
		   "offset %d floats\n\n", NRUNS, poolKib, MAX_POOL, offset);
	printf("%-20s %5s %10s", "metric", "dim", levelNames[0]);
	for (li = 1; li < NLEVELS; li++)
		printf(" %10s %8s", levelNames[li], "speedup");
	printf("\n");

	for (m = 0; m < NMETRICS; m++)
	{
		for (di = 0; di < NDIMS; di++)
		{
			int			d = dims[di];
			int			npool = (int) (poolKib * 1024 / ((long) d * (long) sizeof(float)));
			size_t		stride = (size_t) d + 16;
			float	   *q;
			float	   *block;
			const float **pool;

			if (npool > MAX_POOL)
				npool = MAX_POOL;
			if (npool < 2)
				npool = 2;
			if (posix_memalign((void **) &q, 64, (size_t) d * sizeof(float)) != 0 ||
				posix_memalign((void **) &block, 64,
							   (size_t) npool * stride * sizeof(float)) != 0 ||
				(pool = malloc(sizeof(float *) * npool)) == NULL)
			{
				fprintf(stderr, "out of memory\n");
				return 2;
			}
			for (i = 0; i < d; i++)
				q[i] = randomUnit(&rng);
			for (i = 0; i < npool * (int) stride; i++)
				block[i] = randomUnit(&rng);
			for (i = 0; i < npool; i++)
				pool[i] = block + (size_t) i * stride + offset;
			if (IS_HALF(m))
			{
				/* the same values as halves, in place (each write is behind the read) */
				uint16_t   *hq = (uint16_t *) q;
				uint16_t   *hb = (uint16_t *) block;

				for (i = 0; i < d; i++)
					hq[i] = vk_f32_to_f16(q[i]);
				for (i = 0; i < npool * (int) stride; i++)
					hb[i] = vk_f32_to_f16(block[i]);
				for (i = 0; i < npool; i++)
					pool[i] = (const float *) (hb + (size_t) i * stride + offset);
			}

			measureRow(tables, NLEVELS, (Metric) m, q, pool, npool, d, ns);

			printf("%-20s %5d %10.1f", metricNames[m], d, ns[0]);
			for (li = 1; li < NLEVELS; li++)
			{
				if (tables[li])
					printf(" %10.1f %7.1fx", ns[li], ns[0] / ns[li]);
				else
					printf(" %10s %8s", "-", "-");
			}
			printf("\n");

			free(pool);
			free(block);
			free(q);
		}
	}
	benchRabitq(tables, levelNames);
	return 0;
}
