/*
 * sparsevec.h
 *	  The sparsevec type: a varlena holding only the non-zero elements.
 *
 * On disk and in memory: 4-byte varlena header, int32 dim, int32 nnz,
 * int32 unused (always 0), then nnz int32 indices (0-based, strictly
 * ascending, each < dim) and nnz float4 values (finite, never zero, -0
 * included), i.e. 8 * nnz + 16 bytes.  The empty vector (nnz = 0) is the
 * zero vector of its dimension.
 */
#ifndef VECTOR_SPARSEVEC_H
#define VECTOR_SPARSEVEC_H

#include "postgres.h"

#include "fmgr.h"

#define SPARSEVEC_MAX_DIM		1000000000
#define SPARSEVEC_MAX_NNZ		16000

typedef struct SparseVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		dim;			/* number of dimensions */
	int32		nnz;			/* number of stored (non-zero) elements */
	int32		unused;			/* reserved, always zero */
	int32		indices[FLEXIBLE_ARRAY_MEMBER];	/* then float values[nnz] */
} SparseVector;

#define SPARSEVEC_SIZE(nnz) \
	(offsetof(SparseVector, indices) + (sizeof(int32) + sizeof(float)) * (nnz))
#define SPARSEVEC_VALUES(v)		((float *) ((v)->indices + (v)->nnz))
#define DatumGetSparseVector(x) ((SparseVector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_SPARSEVEC_P(x) DatumGetSparseVector(PG_GETARG_DATUM(x))
#define PG_RETURN_SPARSEVEC_P(x) PG_RETURN_POINTER(x)

/*
 * Most non-zero elements of a value an hnsw index takes: its item, stored
 * out of line, must fit on one index page (src/hnsw/README.md).
 */
#define SPARSEVEC_HNSW_MAX_NNZ	1000

/*
 * The stored item of an index (the form VecTypeOps.to_item writes): int32
 * nnz, then nnz int32 indices (0-based, ascending) and nnz float4 values;
 * the dimension is the index's.  4-byte aligned, 4 + 8 * nnz bytes.
 */
#define SPARSE_ITEM_SIZE(nnz)	(sizeof(int32) * (1 + 2 * (Size) (nnz)))
#define SparseItemNnz(item)		(*(const int32 *) (item))
#define SparseItemIndices(item) ((const int32 *) (item) + 1)
#define SparseItemValues(item)	((const float *) ((const int32 *) (item) + 1 + SparseItemNnz(item)))

/*
 * Merges of two sorted index lists, accumulated in double: the dot
 * product, and the sum of squared (l1: absolute) differences.  Used by the
 * SQL functions and by the index kernels.
 */
extern double SparseMergeDot(int an, const int32 *ai, const float *ax,
							 int bn, const int32 *bi, const float *bx);
extern double SparseMergeDiff(int an, const int32 *ai, const float *ax,
							  int bn, const int32 *bi, const float *bx, bool l1);

/*
 * A sparsevec of dim dimensions with room for nnz elements (indices and
 * values zeroed); dim and nnz must already be checked.
 */
extern SparseVector *InitSparseVector(int dim, int nnz);

#endif							/* VECTOR_SPARSEVEC_H */
