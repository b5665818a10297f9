/*
 * veccost.c
 *	  What a distance costs the planner, at the dimensions it is computed at.
 *
 * PostgreSQL charges a function procost * cpu_operator_cost per call,
 * whatever its arguments.  A distance is a loop over the dimensions, and a
 * vector longer than about 2 kB is stored out of line (the types' storage
 * is external), so that each call first fetches its chunks from the TOAST
 * table.  Charged one operator, a sequential scan and a sort over 1536
 * dimensions looked ten times cheaper than it runs, and the planner chose
 * it over an index scan that was eight times faster.
 *
 * So the distance functions have vector_distance_support as their planner
 * support function: on SupportRequestCost it prices the call from the
 * arguments (a column's dimensions from its typmod, a constant's from its
 * value): one operator for the call, the kernel's loop, and the TOAST
 * fetch of a column value stored out of line.  The index cost estimates
 * price their own distances with the same kernel cost (VecKernelCost), so
 * both sides of the comparison scale alike.
 *
 * The figures (a 2-core x86-64 with AVX2, warm cache, PostgreSQL's
 * default costs, where a sequential scan ran at about 5.6 us per cost unit
 * and a trivial operator took about 6 ns):
 *	- a float kernel takes ~6 ns per 100 dimensions (bench_kernels: 24 ns
 *	  at 384, 92 at 1536, the same for halfvec): about an operator per 64
 *	  dimensions;
 *	- fetching a 6 kB value (4 chunks) from TOAST took 4.5 us, 0.8 units:
 *	  its bytes priced as sequentially read pages plus a tuple per chunk
 *	  and an index probe come to 0.8.
 */
#include "compat.h"

#include <math.h>

#include "access/heaptoast.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"

#include "halfvec.h"
#include "sparsevec.h"
#include "vecindex.h"
#include "vector.h"

extern PGDLLEXPORT Datum vector_in(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum halfvec_in(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sparsevec_in(PG_FUNCTION_ARGS);

/* sparsevec non-zeros assumed when nothing tells */
#define VEC_COST_DEFAULT_NNZ	100

double
VecKernelCost(const VecTypeOps *ops, double dim)
{
	if (dim <= 0)
		return 0;
	if (ops == &bit_type_ops)
		return cpu_operator_cost * dim / 512;	/* 64-bit words, popcount */
	if (ops == &sparsevec_type_ops)
		return cpu_operator_cost * dim / 8; /* dim: non-zeros, a merge */
	return cpu_operator_cost * dim / 64;	/* SIMD over floats or halves */
}

/* Bytes of a value of ops's type with dim dimensions (sparsevec: non-zeros). */
static double
datumBytes(const VecTypeOps *ops, double dim)
{
	if (ops == &bit_type_ops)
		return VARHDRSZ + sizeof(int32) + ceil(dim / 8);
	if (ops == &sparsevec_type_ops)
		return offsetof(SparseVector, indices) + dim * 8;
	if (ops == &halfvec_type_ops)
		return offsetof(HalfVector, x) + dim * 2;
	return offsetof(Vector, x) + dim * 4;
}

double
VecDetoastCost(double bytes)
{
	double		chunks;

	/* a value this small stays in the row */
	if (bytes <= TOAST_TUPLE_THRESHOLD - MAXALIGN(SizeofHeapTupleHeader))
		return 0;
	chunks = ceil(bytes / TOAST_MAX_CHUNK_SIZE);
	/* the TOAST index probe, then the chunks' tuples and their bytes */
	return cpu_index_tuple_cost + 4 * cpu_operator_cost +
		chunks * cpu_tuple_cost + bytes / BLCKSZ * seq_page_cost;
}

/* The type of a distance function's arguments, NULL when not ours. */
static const VecTypeOps *
argTypeOps(Oid typid)
{
	Oid			typinput;
	Oid			typioparam;
	FmgrInfo	finfo;

	if (typid == BITOID || typid == VARBITOID)
		return &bit_type_ops;
	if (get_typtype(typid) != TYPTYPE_BASE)
		return NULL;
	getTypeInputInfo(typid, &typinput, &typioparam);
	fmgr_info(typinput, &finfo);
	if (finfo.fn_addr == vector_in)
		return &vector_type_ops;
	if (finfo.fn_addr == halfvec_in)
		return &halfvec_type_ops;
	if (finfo.fn_addr == sparsevec_in)
		return &sparsevec_type_ops;
	return NULL;
}

/*
 * What an argument tells of the dimensions (for sparsevec, the non-zeros
 * of a constant): 0 when nothing.
 */
static double
argDims(const VecTypeOps *ops, Node *arg)
{
	int32		typmod;

	if (IsA(arg, Const) && !((Const *) arg)->constisnull)
	{
		Datum		value = PointerGetDatum(PG_DETOAST_DATUM(((Const *) arg)->constvalue));

		if (ops == &sparsevec_type_ops)
			return ((SparseVector *) DatumGetPointer(value))->nnz;
		return ops->datum_dim(value);
	}
	if (ops == &sparsevec_type_ops)
		return 0;
	typmod = exprTypmod(arg);
	return typmod > 0 ? typmod : 0;
}

/*
 * The non-zeros of a sparsevec column, from its statistics' average width
 * (which counts a value stored out of line as its TOAST pointer): 0 when
 * there are none.
 */
static double
columnNnz(PlannerInfo *root, Var *var)
{
	RangeTblEntry *rte;
	int32		width;

	if (root == NULL || var->varlevelsup != 0 || var->varno < 1 ||
		var->varno >= root->simple_rel_array_size ||
		(rte = root->simple_rte_array[var->varno]) == NULL || rte->rtekind != RTE_RELATION)
		return 0;
	width = get_attavgwidth(rte->relid, var->varattno);
	if (width <= (int32) offsetof(SparseVector, indices))
		return 0;
	return (width - offsetof(SparseVector, indices)) / 8.0;
}

/*
 * The planner support function of every distance function: on
 * SupportRequestCost, the cost of one call at the arguments' dimensions
 * (see the header comment).  Any other request, or a call the planner
 * shows without its arguments, falls back to procost.
 */
PG_FUNCTION_INFO_V1(vector_distance_support);
Datum
vector_distance_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestCost *req;
	List	   *args;
	const VecTypeOps *ops;
	double		dim = 0;
	double		per_call;
	ListCell   *lc;

	if (!IsA(rawreq, SupportRequestCost))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestCost *) rawreq;
	if (req->node == NULL)
		PG_RETURN_POINTER(NULL);
	if (IsA(req->node, OpExpr))
		args = ((OpExpr *) req->node)->args;
	else if (IsA(req->node, FuncExpr))
		args = ((FuncExpr *) req->node)->args;
	else
		PG_RETURN_POINTER(NULL);
	if (list_length(args) != 2 ||
		(ops = argTypeOps(exprType(linitial(args)))) == NULL)
		PG_RETURN_POINTER(NULL);

	/* both arguments have the same dimensions (else the call fails) */
	foreach(lc, args)
		dim = Max(dim, argDims(ops, (Node *) lfirst(lc)));
	if (ops == &sparsevec_type_ops)
	{
		double		column = 0;

		foreach(lc, args)
			if (IsA(lfirst(lc), Var))
				column = Max(column, columnNnz(req->root, (Var *) lfirst(lc)));
		/* a merge of both lists: the constant's and the column's */
		dim = (dim > 0 ? dim : VEC_COST_DEFAULT_NNZ) + (column > 0 ? column : VEC_COST_DEFAULT_NNZ);
	}

	per_call = cpu_operator_cost + VecKernelCost(ops, dim);

	/*
	 * A column value stored out of line is fetched from TOAST by every
	 * call.  (A constant or parameter is fetched once; a sparsevec's size
	 * is not known from its type.)
	 */
	if (ops != &sparsevec_type_ops && dim > 0)
		foreach(lc, args)
			if (IsA(lfirst(lc), Var))
				per_call += VecDetoastCost(datumBytes(ops, dim));

	req->startup = 0;
	req->per_tuple = per_call;
	PG_RETURN_POINTER(req);
}
