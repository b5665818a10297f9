/*
 * vecbase.h
 *	  Scaffolding shared by the vector-like SQL types: dimension and typmod
 *	  checks, the text parse loop, shortest round-trip float output, and the
 *	  float8[] state of the avg/sum aggregates.  Each type passes its name
 *	  (for messages) and converts the parsed float4 values to its own element.
 */
#ifndef VECTOR_VECBASE_H
#define VECTOR_VECBASE_H

#include "compat.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#define VECTOR_MAX_DIM 16000

/* Error unless 1 <= dim <= VECTOR_MAX_DIM. */
extern void VecCheckDim(int dim, const char *typname);

/* Error unless 1 <= dim <= maxdim (sparsevec's dimensions go far past 16000). */
extern void VecCheckDimMax(int64 dim, const char *typname, int maxdim);

/* Error unless the value is finite. */
extern void VecCheckElement(float value, const char *typname);

/* Error unless typmod is -1 or equals dim ("expected N dimensions, not M"). */
extern void VecCheckExpectedDim(int32 typmod, int dim);

/* Error unless both dimensions agree ("different <typname> dimensions"). */
extern void VecCheckSameDim(int a, int b, const char *typname);

/* Parse a typmod array for a type whose dimension is capped at maxdim. */
extern int32 VecTypmodIn(ArrayType *ta, const char *typname, int maxdim);

/*
 * For element types narrower than float4 (halfvec): true when a finite
 * float converts to a finite element.  NULL means every finite float fits.
 */
typedef bool (*VecFitsFn) (float value);

/*
 * Parse "[1, 2.5, 3]" into a palloc'd float array; every element checked
 * finite (and, with fits, in the element's range: "\"...\" is out of range
 * for type ...", quoting the element's text) and the count checked against
 * VECTOR_MAX_DIM.  Errors use typname.
 */
extern float *VecParseText(const char *str, const char *typname, VecFitsFn fits, int *dim);

/*
 * Pieces of the parse loop, for a type with another text form (sparsevec):
 * skip C whitespace; report the whole input as malformed; and read one
 * element at *p (strtof syntax, read by VecStrtof, checked finite and,
 * with fits, in range), leaving *p after it.  str is the whole input, for
 * the message.
 */
extern const char *VecSkipSpace(const char *p);
extern void VecReportSyntax(const char *typname, const char *str) pg_attribute_noreturn();
/* The same with pgvector's errdetail (one of the VEC_SYNTAX_* below). */
extern void VecReportSyntaxDetail(const char *typname, const char *str,
								  const char *detail) pg_attribute_noreturn();

#define VEC_SYNTAX_START_BRACKET "Vector contents must start with \"[\"."
#define VEC_SYNTAX_START_BRACE "Vector contents must start with \"{\"."
#define VEC_SYNTAX_END "Unexpected end of input."
#define VEC_SYNTAX_JUNK_BRACKET "Junk after closing right brace."
#define VEC_SYNTAX_JUNK "Junk after closing."
extern float VecParseElement(const char **p, const char *str, const char *typname, VecFitsFn fits);

/* Append the shortest text that reads back to the same float4. */
extern void VecAppendFloat(StringInfo buf, float value);

/*
 * Convert a 1-D array of int4, float4, float8 or numeric (no NULLs) to a
 * palloc'd float4 array with every element checked (with fits as above).
 */
extern float *VecFromArray(ArrayType *array, const char *typname, VecFitsFn fits, int *dim);

/* The same with another dimension cap (sparsevec: up to 1e9 dimensions). */
extern float *VecFromArrayMax(ArrayType *array, const char *typname, VecFitsFn fits,
							  int maxdim, int *dim);

/* Error "\"%g\" is out of range for type ..." unless fits(value). */
extern void VecCheckFits(float value, const char *typname, VecFitsFn fits);

/* Result of a float (overflow-checked) for +, -, *. */
static inline float
VecCheckedResult(float r)
{
	if (unlikely(isinf(r)))
		float_overflow_error();
	return r;
}

/*
 * avg/sum aggregate state: float8[] {n, s_1 .. s_dim}.  The transition
 * function updates the state in place when called as an aggregate.
 */
/*
 * The values of a validated state array; *nelems = dim + 1.  caller names
 * the SQL function in the error ("vector_accum: expected state array").
 */
extern float8 *VecStateValues(ArrayType *state, const char *caller, int *nelems);
extern ArrayType *VecAccumState(FunctionCallInfo fcinfo, ArrayType *state, const char *caller,
								int dim, float8 **sums, float8 **count);
extern ArrayType *VecCombineStates(FunctionCallInfo fcinfo, ArrayType *a, ArrayType *b,
								   const char *caller);

#endif							/* VECTOR_VECBASE_H */
