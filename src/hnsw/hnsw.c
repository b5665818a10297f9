/*
 * hnsw.c
 *	  The hnsw access method's handler, options and GUCs.  The callbacks
 *	  live in the files named for what they do (see hnsw.h).
 */
#include "compat.h"

#include <float.h>

#include "access/amapi.h"
#include "access/reloptions.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "utils/guc.h"

#include "hnsw.h"

int			hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
int			hnsw_iterative_scan = HNSW_ITERATIVE_OFF;
int			hnsw_max_scan_tuples = 20000;
double		hnsw_scan_mem_multiplier = 1;
int			hnsw_test_max_nodes = 0;
int			hnsw_test_max_runs = 0;
int			hnsw_test_extend_delay = 0;
int			hnsw_test_upper_ef = 0;
int			hnsw_test_level_seed = 0;
double		hnsw_probable_sigmas = 4;

static relopt_kind hnsw_relopt_kind;

static const struct config_enum_entry iterative_scan_options[] = {
	{"off", HNSW_ITERATIVE_OFF, false},
	{"relaxed_order", HNSW_ITERATIVE_RELAXED, false},
	{"strict_order", HNSW_ITERATIVE_STRICT, false},
	{NULL, 0, false}
};

void
HnswInitGUCs(void)
{
	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m", "Max number of connections per node",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M, AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the dynamic candidate list for construction",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "bits",
					  "Bits per dimension of the codes the graph is walked on (0: store the vectors)",
					  0, 0, HNSW_MAX_BITS, AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "rerank_bits",
					  "Bits per dimension of a finer code that orders the rows to re-rank (0: none)",
					  0, 0, HNSW_MAX_BITS, AccessExclusiveLock);

	DefineCustomIntVariable("hnsw.ef_search", "Sets the size of the dynamic candidate list for search",
							"Valid range is 1..1000.", &hnsw_ef_search,
							HNSW_DEFAULT_EF_SEARCH, 1, HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("hnsw.iterative_scan", "Sets the mode for iterative scans",
							 NULL, &hnsw_iterative_scan, HNSW_ITERATIVE_OFF,
							 iterative_scan_options, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.max_scan_tuples", "Sets the max number of tuples to visit for iterative scans",
							NULL, &hnsw_max_scan_tuples, 20000, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("hnsw.scan_mem_multiplier",
							 "Sets the multiple of work_mem to use for iterative scans",
							 NULL, &hnsw_scan_mem_multiplier, 1, 1, 1000,
							 PGC_USERSET, 0, NULL, NULL, NULL);

	/*
	 * For tests only (hidden): a lower limit on the nodes of an index, so
	 * that running out of node ids can be tried; and a pause in an insert
	 * that extends the node pages, after making them and before publishing
	 * them, so that a test can act while an extension is under way; a
	 * smaller run table with one-page chunks, so that a test can fill it;
	 * and the number of level-1 nodes a scan starts layer 0 from, so that a
	 * test can show what a single greedy path (1) misses.
	 */
	DefineCustomIntVariable("hnsw.test_max_nodes",
							"For testing: lowers the most nodes an hnsw index may allocate.",
							"0 keeps the real limit.", &hnsw_test_max_nodes,
							0, 0, INT_MAX, PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.test_max_runs",
							"For testing: shrinks the hnsw run table, and node page chunks to one page while it has room.",
							"0 keeps the real size.", &hnsw_test_max_runs,
							0, 0, HNSW_MAX_RUNS, PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.test_upper_ef",
							"For testing: how many level-1 nodes an hnsw scan starts layer 0 from.",
							"0 takes hnsw.ef_search; 1 walks a single greedy path.", &hnsw_test_upper_ef,
							0, 0, HNSW_MAX_EF_SEARCH, PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	DefineCustomRealVariable("hnsw.test_probable_sigmas",
							 "For testing: how many standard errors below its estimate an hnsw scan on codes starts reading a candidate's row.",
							 "0 reads in the order of bounds that always hold.", &hnsw_probable_sigmas,
							 4, 0, 100, PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.test_level_seed",
							"Test only: inserts of this session draw node levels from a sequence with this seed.",
							"0 draws them at random.", &hnsw_test_level_seed,
							0, 0, INT_MAX, PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.test_extend_delay",
							"For testing: pauses an hnsw insert that adds node pages before it publishes them.",
							NULL, &hnsw_test_extend_delay,
							0, 0, INT_MAX, PGC_SUSET,
							GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_UNIT_MS,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("hnsw");
}

static bytea *
hnswoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
		{"bits", RELOPT_TYPE_INT, offsetof(HnswOptions, bits)},
		{"rerank_bits", RELOPT_TYPE_INT, offsetof(HnswOptions, rerank_bits)},
	};

	return (bytea *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
									  sizeof(HnswOptions), tab, lengthof(tab));
}

static char *
hnswbuildphasename(int64 phase)
{
	switch (phase)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case HNSW_PHASE_LOAD:
			return "loading tuples";
		default:
			return NULL;
	}
}

static bool
hnswvalidate(Oid opclassoid)
{
	return VecIndexValidate(opclassoid, "hnsw", true);
}

PG_FUNCTION_INFO_V1(hnswhandler);
Datum
hnswhandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = VecIndexAmRoutine();

	/* key columns after the vector are filter columns (hnswfilter.c) */
	am->amcanmulticol = true;
	am->amsearcharray = true;

	am->ambuild = hnswbuild;
	am->ambuildempty = hnswbuildempty;
	am->aminsert = hnswinsert;
	am->ambulkdelete = hnswbulkdelete;
	am->amvacuumcleanup = hnswvacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = hnswcostestimate;
	am->amoptions = hnswoptions;
	am->amproperty = NULL;
	am->ambuildphasename = hnswbuildphasename;
	am->amvalidate = hnswvalidate;
	am->ambeginscan = hnswbeginscan;
	am->amrescan = hnswrescan;
	am->amgettuple = hnswgettuple;
	am->amgetbitmap = NULL;
	am->amendscan = hnswendscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}
