/*
 * bitvec.c
 *	  Distances on PostgreSQL's own bit type: Hamming and Jaccard, through
 *	  the popcount kernels of the kernel table.
 */
#include "compat.h"

#include "fmgr.h"
#include "utils/varbit.h"

#include "kernels.h"

/* Fetch both arguments and insist on equal lengths. */
static void
getBitPair(FunctionCallInfo fcinfo, VarBit **a, VarBit **b)
{
	*a = PG_GETARG_VARBIT_P(0);
	*b = PG_GETARG_VARBIT_P(1);
	if (VARBITLEN(*a) != VARBITLEN(*b))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different bit lengths %u and %u",
						VARBITLEN(*a), VARBITLEN(*b))));
}

PG_FUNCTION_INFO_V1(hamming_distance);
Datum
hamming_distance(PG_FUNCTION_ARGS)
{
	VarBit	   *a,
			   *b;

	getBitPair(fcinfo, &a, &b);
	/* pad bits past VARBITLEN are zero in both, so whole bytes are safe */
	PG_RETURN_FLOAT8((double) vk_active->bit_hamming(VARBITS(a), VARBITS(b),
													 VARBITBYTES(a)));
}

PG_FUNCTION_INFO_V1(jaccard_distance);
Datum
jaccard_distance(PG_FUNCTION_ARGS)
{
	VarBit	   *a,
			   *b;
	uint64_t	inter,
				uni;

	getBitPair(fcinfo, &a, &b);
	vk_active->bit_and_or_count(VARBITS(a), VARBITS(b), VARBITBYTES(a), &inter, &uni);
	/* no common set bit (including two empty sets): as far apart as can be */
	if (inter == 0)
		PG_RETURN_FLOAT8(1.0);
	PG_RETURN_FLOAT8(1.0 - (double) inter / (double) uni);
}
