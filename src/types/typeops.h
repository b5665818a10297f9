/*
 * typeops.h
 *	  The one small struct per SQL type that the index access methods see.
 *
 * HNSW and IVFFlat never name a SQL type: they reach the type through the
 * opclass's support function (FUNCTION 3, e.g. vector_index_support), which
 * returns a pointer to one of these, and the metric through the opclass's
 * distance function (FUNCTION 1), whose C address is looked up in the
 * struct's metric table.  Adding a type is one VecTypeOps plus opclasses.
 */
#ifndef VECTOR_TYPEOPS_H
#define VECTOR_TYPEOPS_H

#include "postgres.h"

#include "fmgr.h"

typedef enum VecMetric
{
	VEC_METRIC_L2 = 0,			/* squared L2 inside the index */
	VEC_METRIC_IP,				/* negative inner product */
	VEC_METRIC_COSINE,			/* normalised items, 1 - dot */
	VEC_METRIC_L1,
	VEC_METRIC_HAMMING,
	VEC_METRIC_JACCARD
} VecMetric;

/* Distance between two stored items (or a prepared query and an item). */
typedef float (*VecDistanceFn) (const void *a, const void *b, int dim);

/* One query against count items (an IVF list page, a centroid table). */
typedef void (*VecBatchDistanceFn) (const void *q, const void *const *items, int count,
									int dim, float *out);

typedef struct VecMetricEntry
{
	PGFunction	sqlfn;			/* the opclass's FUNCTION 1 */
	VecMetric	metric;
} VecMetricEntry;

typedef struct VecTypeOps
{
	const char *name;			/* SQL type name, for messages */
	int			hnsw_max_dim;	/* most dimensions an hnsw index takes */
	int			ivf_max_dim;

	/*
	 * Bytes one stored item of dim dimensions takes (4-byte aligned); for a
	 * type with variable-length items, the most an indexed item may take.
	 */
	Size		(*item_size) (int dim);

	/*
	 * Variable-length items (sparsevec); all three NULL for a fixed-size
	 * type.  item_len: the bytes of one stored item.  datum_item_len: the
	 * bytes the (detoasted) datum's item takes, which for a query may
	 * exceed item_size, since a query is never stored.  check_value: an
	 * error for a datum too large to be indexed (item_len > item_size).
	 */
	Size		(*item_len) (const void *item);
	Size		(*datum_item_len) (Datum value);
	void		(*check_value) (Datum value);

	/* dimensions of a (detoasted) datum */
	int			(*datum_dim) (Datum value);

	/*
	 * Write the datum as a stored item into dst.  For cosine the item is
	 * normalised when unit_cosine_items is set; returns false when the
	 * value cannot be indexed (a zero vector under cosine).
	 */
	bool		(*to_item) (Datum value, VecMetric metric, void *dst);

	/*
	 * Cosine items are unit vectors, and the cosine distance is 1 - dot.
	 * When false (halfvec, whose rounding would leave unit vectors with
	 * norms 1 +- 1e-3), items keep their values and the distance divides
	 * by both norms; spherical k-means then normalises its float input.
	 */
	bool		unit_cosine_items;

	/* the distance kernel for a metric, from the kernel table */
	VecDistanceFn (*distance) (VecMetric metric);
	VecBatchDistanceFn (*batch_distance) (VecMetric metric);

	/*
	 * Optional: dot products of a query item with count items stored
	 * row_bytes apart (a centroid table), several per pass; and the squared
	 * norm of an item.  With them, ivfflat finds a row's nearest centroid
	 * as the least |c|^2 - 2 q.c.  NULL for a type without them.
	 */
	void		(*rows_dot) (const void *q, const void *rows, Size row_bytes, int count,
							 int dim, float *out);
	float		(*norm_sq) (const void *item, int dim);

	/*
	 * Float views of a stored item, for IVFFlat's k-means, which works on
	 * floats: the dim elements of an item as floats, and a float vector
	 * (a centroid) stored as an item.
	 */
	void		(*item_to_floats) (const void *item, int dim, float *out);
	void		(*floats_to_item) (const float *in, int dim, void *item);

	/* map the opclass's distance function to a metric */
	const VecMetricEntry *metrics;
	int			nmetrics;
} VecTypeOps;

/*
 * Result of the metric lookup: the metric, or an error naming the type when
 * distproc is not one of this type's distance functions.
 */
extern VecMetric VecOpsMetric(const VecTypeOps *ops, PGFunction distproc);

/*
 * Distance values the index computes are order-preserving stand-ins for the
 * SQL operator's value (squared L2, 1 - dot for unit vectors, ...).  Convert
 * one to the operator's value, for xs_orderbyvals.
 */
extern double VecSqlDistance(VecMetric metric, float d);

extern const VecTypeOps vector_type_ops;
extern const VecTypeOps halfvec_type_ops;
extern const VecTypeOps bit_type_ops;
extern const VecTypeOps sparsevec_type_ops;

/*
 * Is fn the C function of one of the extension's distance operators (the
 * functions behind <-> <#> <=> <+> <~> <%>, for any type)?
 */
extern bool VecIsDistanceFunction(PGFunction fn);

#endif							/* VECTOR_TYPEOPS_H */
