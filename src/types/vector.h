/*
 * vector.h
 *	  The vector type: a varlena of float4 elements.
 *
 * On disk and in memory: 4-byte varlena header, int16 dim, int16 unused
 * (always 0), then dim float4 values, i.e. 4 * dim + 8 bytes.
 */
#ifndef VECTOR_VECTOR_H
#define VECTOR_VECTOR_H

#include "postgres.h"

#include "fmgr.h"

typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always zero */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

#define VECTOR_SIZE(dim)		(offsetof(Vector, x) + sizeof(float) * (dim))
#define DatumGetVector(x)		((Vector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_VECTOR_P(x)	DatumGetVector(PG_GETARG_DATUM(x))
#define PG_RETURN_VECTOR_P(x)	PG_RETURN_POINTER(x)

/* A zeroed vector of dim dimensions; dim must already be checked. */
extern Vector *InitVector(int dim);

#endif							/* VECTOR_VECTOR_H */
