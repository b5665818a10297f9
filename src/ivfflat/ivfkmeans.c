/*
 * ivfkmeans.c
 *	  k-means for the lists: k-means++ seeding, then Lloyd iterations that
 *	  skip the distances the triangle inequality proves useless: Elkan's
 *	  bounds (one lower bound per point and centroid) when they fit in
 *	  memory, else Hamerly's (one per point).  Iterations stop when fewer
 *	  than 0.5% of the points change lists, or after KMEANS_MAX_ITERATIONS.
 *
 * Everything is L2 on float vectors.  Spherical k-means (for cosine) is the
 * same on unit vectors with the centroids normalised after each update:
 * between unit vectors, the nearest by L2 is the nearest by cosine.
 * Deterministic for a given sample and seed.
 */
#include "compat.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "ivfflat.h"
#include "kernels.h"

#define KMEANS_MAX_ITERATIONS	10
/* most per-point, per-centroid bounds Elkan may keep: 256 MB */
#define KMEANS_ELKAN_MAX_BOUNDS	(64 * 1024 * 1024)

static inline float
l2(const float *a, const float *b, int dim)
{
	return sqrtf(Max(vk_active->f32_l2sq(a, b, dim), 0.0f));
}

static void
normalise(float *v, int dim)
{
	double		norm = 0;

	for (int d = 0; d < dim; d++)
		norm += (double) v[d] * v[d];
	norm = sqrt(norm);
	if (norm > 0)
		for (int d = 0; d < dim; d++)
			v[d] = (float) (v[d] / norm);
}

/* Scale v to unit length (a zero vector stays zero). */
void
IvfNormalise(float *v, int dim)
{
	normalise(v, dim);
}

/*
 * k-means++: each next seed is a point drawn with probability proportional
 * to its squared distance to the nearest seed so far.
 */
static void
seed(const float *data, int n, int dim, int k, float *centroids, pg_prng_state *prng)
{
	float	   *mind = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	float	   *pnorm = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	float	   *d = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	int			pick = (int) pg_prng_uint64_range(prng, 0, n - 1);

	for (int i = 0; i < n; i++)
	{
		pnorm[i] = vk_active->f32_norm_sq(data + (Size) i * dim, dim);
		mind[i] = FLT_MAX;
	}
	for (int j = 0; j < k; j++)
	{
		double		total = 0;
		double		r;

		memcpy(centroids + (Size) j * dim, data + (Size) pick * dim, sizeof(float) * dim);
		if (j == k - 1)
			break;
		/* |x - c|^2 = |x|^2 + |c|^2 - 2 x.c, four points per pass */
		vk_active->f32_dot_rows(centroids + (Size) j * dim, data, dim, n, dim, d);
		for (int i = 0; i < n; i++)
		{
			float		di = Max(pnorm[i] + pnorm[pick] - 2 * d[i], 0.0f);

			mind[i] = i == pick ? 0 : Min(mind[i], di);
			total += mind[i];
		}
		if (total <= 0)
		{
			/* every point is on a seed: any point will do */
			pick = (int) pg_prng_uint64_range(prng, 0, n - 1);
			continue;
		}
		r = pg_prng_double(prng) * total;
		pick = n - 1;
		for (int i = 0; i < n; i++)
		{
			r -= mind[i];
			if (r < 0 && mind[i] > 0)
			{
				pick = i;
				break;
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	pfree(mind);
	pfree(pnorm);
	pfree(d);
}

typedef struct Kmeans
{
	const float *data;
	int			n;
	int			dim;
	int			k;
	bool		spherical;
	float	   *centroids;
	const float **cptrs;
	float	   *cnorm;			/* |c|^2 of each centroid */
	int		   *assign;
	float	   *upper;			/* distance to the assigned centroid, at most */
	double	   *sums;
	int		   *counts;
	float	   *moved;			/* how far each centroid moved */
	float	   *old;
	int		   *reseeded;		/* points that took an empty centroid */
	int			nreseeded;
} Kmeans;

/*
 * Move each centroid to the mean of its points (normalised when
 * spherical); an empty one takes the point farthest from its centroid.
 * Fills km->moved; returns the largest move.
 */
static float
updateCentroids(Kmeans *km)
{
	int			dim = km->dim;
	float		maxmove = 0;

	memset(km->sums, 0, sizeof(double) * km->k * dim);
	memset(km->counts, 0, sizeof(int) * km->k);
	km->nreseeded = 0;
	for (int i = 0; i < km->n; i++)
	{
		const float *x = km->data + (Size) i * dim;
		double	   *s = km->sums + (Size) km->assign[i] * dim;

		for (int d = 0; d < dim; d++)
			s[d] += x[d];
		km->counts[km->assign[i]]++;
	}
	for (int j = 0; j < km->k; j++)
	{
		float	   *c = km->centroids + (Size) j * dim;

		memcpy(km->old, c, sizeof(float) * dim);
		if (km->counts[j] > 0)
		{
			for (int d = 0; d < dim; d++)
				c[d] = (float) (km->sums[(Size) j * dim + d] / km->counts[j]);
			if (km->spherical)
			{
				normalise(c, dim);
				/* antipodal members can cancel out: keep the old one */
				if (vk_active->f32_norm_sq(c, dim) == 0)
					memcpy(c, km->old, sizeof(float) * dim);
			}
		}
		else
		{
			int			far = 0;

			for (int i = 1; i < km->n; i++)
				if (km->upper[i] > km->upper[far])
					far = i;
			memcpy(c, km->data + (Size) far * dim, sizeof(float) * dim);
			km->assign[far] = j;
			km->upper[far] = 0;
			km->reseeded[km->nreseeded++] = far;
		}
		km->moved[j] = l2(km->old, c, dim);
		maxmove = Max(maxmove, km->moved[j]);
		km->cnorm[j] = vk_active->f32_norm_sq(c, dim);
	}
	return maxmove;
}

/* Exact nearest centroid of point i: its list and the two distances. */
static int
nearest(Kmeans *km, int i, float *dists, float *best, float *second)
{
	int			besti = 0;
	float		b = FLT_MAX,
				s = FLT_MAX;

	const float *x = km->data + (Size) i * km->dim;
	float		xnorm = vk_active->f32_norm_sq(x, km->dim);

	/* |x - c|^2 = |x|^2 + |c|^2 - 2 x.c: one pass over x for four centroids */
	vk_active->f32_dot_rows(x, km->centroids, km->dim, km->k, km->dim, dists);
	for (int j = 0; j < km->k; j++)
	{
		dists[j] = sqrtf(Max(xnorm + km->cnorm[j] - 2 * dists[j], 0.0f));
		if (dists[j] < b)
		{
			s = b;
			b = dists[j];
			besti = j;
		}
		else if (dists[j] < s)
			s = dists[j];
	}
	*best = b;
	*second = s;
	return besti;
}

static bool
converged(Kmeans *km, int changed, int iter)
{
	CHECK_FOR_INTERRUPTS();
	return changed <= km->n / 200 || iter >= KMEANS_MAX_ITERATIONS;
}

/* Hamerly: one lower bound per point, on the second-nearest centroid. */
static void
hamerly(Kmeans *km)
{
	float	   *lower = palloc_extended(sizeof(float) * km->n, MCXT_ALLOC_HUGE);
	float	   *dists = palloc_array(float, km->k);

	for (int iter = 0;; iter++)
	{
		int			changed = 0;
		float		maxmove;

		for (int i = 0; i < km->n; i++)
		{
			float		best,
						second;
			int			a;

			if (iter > 0)
			{
				if (km->upper[i] <= lower[i])
					continue;
				km->upper[i] = l2(km->data + (Size) i * km->dim, km->cptrs[km->assign[i]], km->dim);
				if (km->upper[i] <= lower[i])
					continue;
			}
			a = nearest(km, i, dists, &best, &second);
			if (iter == 0 || a != km->assign[i])
				changed++;
			km->assign[i] = a;
			km->upper[i] = best;
			lower[i] = second;
		}
		if (converged(km, changed, iter))
			break;
		maxmove = updateCentroids(km);
		for (int i = 0; i < km->n; i++)
		{
			km->upper[i] += km->moved[km->assign[i]];
			lower[i] -= maxmove;
		}
		/* their bound was on the centroid they left: recompute them */
		for (int r = 0; r < km->nreseeded; r++)
			lower[km->reseeded[r]] = 0;
	}
	pfree(lower);
	pfree(dists);
}

/*
 * Elkan: a lower bound per point and centroid, and the distances between
 * centroids: a centroid at least twice as far from the assigned one as the
 * point is cannot be nearer.
 */
static void
elkan(Kmeans *km)
{
	int			k = km->k;
	float	   *lower = palloc_extended(sizeof(float) * km->n * k, MCXT_ALLOC_HUGE);
	float	   *cc = palloc_extended(sizeof(float) * k * k, MCXT_ALLOC_HUGE);
	float	   *half = palloc_array(float, k);	/* half the distance to the nearest other */

	for (int iter = 0;; iter++)
	{
		int			changed = 0;

		if (iter == 0)
		{
			for (int i = 0; i < km->n; i++)
			{
				float		best,
							second;

				km->assign[i] = nearest(km, i, lower + (Size) i * k, &best, &second);
				km->upper[i] = best;
			}
			changed = km->n;
		}
		else
		{
			for (int a = 0; a < k; a++)
			{
				half[a] = FLT_MAX;
				for (int b = 0; b < k; b++)
				{
					if (b > a)
						cc[(Size) a * k + b] = cc[(Size) b * k + a] = l2(km->cptrs[a], km->cptrs[b], km->dim);
					if (b != a)
						half[a] = Min(half[a], cc[(Size) a * k + b] / 2);
				}
			}
			for (int i = 0; i < km->n; i++)
			{
				const float *x = km->data + (Size) i * km->dim;
				float	   *lo = lower + (Size) i * k;
				int			a = km->assign[i];
				bool		tight = false;

				if (km->upper[i] <= half[a])
					continue;
				for (int j = 0; j < k; j++)
				{
					float		d;

					if (j == a || km->upper[i] <= lo[j] ||
						km->upper[i] <= cc[(Size) a * k + j] / 2)
						continue;
					if (!tight)
					{
						km->upper[i] = lo[a] = l2(x, km->cptrs[a], km->dim);
						tight = true;
						if (km->upper[i] <= lo[j] || km->upper[i] <= cc[(Size) a * k + j] / 2)
							continue;
					}
					d = lo[j] = l2(x, km->cptrs[j], km->dim);
					if (d < km->upper[i])
					{
						a = j;
						km->upper[i] = d;
					}
				}
				if (a != km->assign[i])
				{
					km->assign[i] = a;
					changed++;
				}
			}
		}
		if (converged(km, changed, iter))
			break;
		updateCentroids(km);
		for (int i = 0; i < km->n; i++)
		{
			float	   *lo = lower + (Size) i * k;

			for (int j = 0; j < k; j++)
				lo[j] = Max(lo[j] - km->moved[j], 0.0f);
			km->upper[i] += km->moved[km->assign[i]];
		}
	}
	pfree(lower);
	pfree(cc);
	pfree(half);
}

void
IvfKmeans(const float *data, int n, int dim, int k, bool spherical, float *centroids,
		  uint64 seedval)
{
	Kmeans		km;
	pg_prng_state prng;

	Assert(n >= k && k >= 1);
	km.data = data;
	km.n = n;
	km.dim = dim;
	km.k = k;
	km.spherical = spherical;
	km.centroids = centroids;
	km.cptrs = palloc_array(const float *, k);
	km.assign = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	km.upper = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	km.sums = palloc_extended(sizeof(double) * k * dim, MCXT_ALLOC_HUGE);
	km.counts = palloc_array(int, k);
	km.moved = palloc_array(float, k);
	km.old = palloc_array(float, dim);
	km.reseeded = palloc_array(int, k);

	pg_prng_seed(&prng, seedval);
	seed(data, n, dim, k, centroids, &prng);
	km.cnorm = palloc_array(float, k);
	for (int j = 0; j < k; j++)
	{
		km.cptrs[j] = centroids + (Size) j * dim;
		km.cnorm[j] = vk_active->f32_norm_sq(km.cptrs[j], dim);
	}

	if ((Size) n * k <= KMEANS_ELKAN_MAX_BOUNDS && (Size) k * k <= KMEANS_ELKAN_MAX_BOUNDS)
		elkan(&km);
	else
		hamerly(&km);

	pfree(km.cptrs);
	pfree(km.cnorm);
	pfree(km.assign);
	pfree(km.upper);
	pfree(km.sums);
	pfree(km.counts);
	pfree(km.moved);
	pfree(km.old);
	pfree(km.reseeded);
}
