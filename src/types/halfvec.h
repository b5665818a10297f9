/*
 * halfvec.h
 *	  The halfvec type: a varlena of IEEE 754 binary16 elements.
 *
 * On disk and in memory: 4-byte varlena header, int16 dim, int16 unused
 * (always 0), then dim halves as their uint16 bit patterns, i.e.
 * 2 * dim + 8 bytes.  Every element is finite (never NaN or infinity).
 */
#ifndef VECTOR_HALFVEC_H
#define VECTOR_HALFVEC_H

#include "postgres.h"

#include "fmgr.h"

/* the largest finite half */
#define HALFVEC_MAX_VALUE		65504.0f

typedef struct HalfVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always zero */
	uint16		x[FLEXIBLE_ARRAY_MEMBER];	/* binary16 bit patterns */
} HalfVector;

#define HALFVEC_SIZE(dim)		(offsetof(HalfVector, x) + sizeof(uint16) * (dim))
#define DatumGetHalfVector(x)	((HalfVector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_HALFVEC_P(x)	DatumGetHalfVector(PG_GETARG_DATUM(x))
#define PG_RETURN_HALFVEC_P(x)	PG_RETURN_POINTER(x)

/* A zeroed halfvec of dim dimensions; dim must already be checked. */
extern HalfVector *InitHalfVector(int dim);

/* A finite float that stays finite as a half (a VecFitsFn). */
extern bool HalfvecFits(float value);

#endif							/* VECTOR_HALFVEC_H */
