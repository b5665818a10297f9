/*
 * hnswcodes.c
 *	  Format version 2: node records hold a RaBitQ code of the vector
 *	  (src/kernels/rabitq.[ch]) instead of the vector.  The graph is walked
 *	  on the codes' distance estimates, which also give each row a lower
 *	  bound of its exact distance that holds whatever the rounding; the
 *	  scan reads the candidates' heap rows in the order of those bounds and
 *	  ranks them by exact distance (hnswscan.c, deliver).  README.md, "Compact
 *	  codes".
 *
 * Three kinds of vector meet here:
 *	- the stored record: RbqFactors (20 bytes) then the code;
 *	- the graph item: the vector a code stands for, rotated (P x, padded
 *	  floats: alpha (u - m) + P c).  Inserts and VACUUM compare nodes with
 *	  each other through it (the neighbour heuristic, full lists): the
 *	  rotation keeps every distance, so the float kernels of the metric
 *	  serve it over padded elements (HnswDist with st->gdim);
 *	- the query: a prepared RbqQuery (HnswCodeQuery), from a float vector
 *	  (scans, inserts) or from a graph item (VACUUM, back-links).
 * The in-memory build has a fourth, the bundle (below), which compares two
 * codes with one integer kernel call instead of decoding them.
 */
#include "compat.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "port/pg_crc32c.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/rel.h"

#include "hnsw.h"
#include "kernels.h"
#include "rabitq.h"

typedef struct HnswCodes
{
	int			bits;
	int			rerank_bits;	/* 0: no re-ranking code */
	int			padded;
	RbqMetric	metric;
	uint64		seed;
	uint32		nonce;			/* of the codes pages read (0: built here, or none) */
	bool		provisional;	/* zeros until the first insert sets the centre */
	RbqRotation *rot;
	float	   *centre;			/* dim floats: the codes are made around it */
	float	   *pcentre;		/* P c, padded floats */
	double		cnorm;			/* |c| */
	void	   *work;			/* rbq_work_size(padded) */
	double	   *rotated;		/* padded doubles */
	uint8	   *levels;			/* padded */
	float	   *floats;			/* dim floats */
	char	   *rec;			/* one stored record */
	char	   *batch;			/* 2m records, for diskScore */
	const uint8 **codes;		/* 2m code pointers */
	int32	   *dots;
} HnswCodes;

/* A prepared query: the RbqQuery, and what the bound's float slack needs. */
typedef struct HnswCodeQuery
{
	uint8		bounds;			/* what HnswCand.lower gets: HNSW_BOUNDS_* */
	double		qnorm;			/* |q| */
	RbqQuery	rq;				/* variable length: last */
} HnswCodeQuery;

/* ---------------------------------------------------------------- geometry */

/* Can the index hold codes of this type and metric? */
static bool
codesCapable(const VecTypeOps *ops, VecMetric metric)
{
	return (ops == &vector_type_ops || ops == &halfvec_type_ops) &&
		(metric == VEC_METRIC_L2 || metric == VEC_METRIC_IP || metric == VEC_METRIC_COSINE);
}

/*
 * A record: the walk's factors and code, then with rerank_bits the
 * re-ranking code's (README.md, "Re-ranking codes").
 */
Size
HnswCodesRecordSize(int dim, int bits, int rerank_bits)
{
	Size		size = sizeof(RbqFactors) + rbq_code_bytes(rbq_padded(dim), bits);

	if (rerank_bits > 0)
		size += sizeof(RbqFactors) + rbq_code_bytes(rbq_padded(dim), rerank_bits);
	return size;
}

/*
 * The bits of an index's codes, from the option: 0 keeps the vectors
 * (format version 1).  With the option left at 0, a column too wide for
 * its vectors to fit a page (or above the type's float limit) gets codes
 * all the same: 4 bits, or fewer where a node would not fit.  The option
 * asked of a type or metric without codes leaves 0; the build says so.
 */
int
HnswChooseBits(const VecTypeOps *ops, VecMetric metric, int dim, int m, int bits)
{
	static const int autobits[] = {4, 2, 1};

	if (dim <= 0 || !codesCapable(ops, metric) || dim > RBQ_MAX_DIM)
		return 0;
	if (bits > 0)
		return bits;
	if (dim <= ops->hnsw_max_dim &&
		HnswNodesPerPage(HnswNodeSize(MAXALIGN(ops->item_size(dim)), m, 0)) >= 1)
		return 0;

	/*
	 * From 1,024 dimensions on, 1 bit: the walk reads a quarter of the
	 * bytes, and the rows come out re-ranked exactly all the same.  On
	 * glove-1536 (50,000 rows, cosine, m 16, ef_construction 64) 1 bit
	 * builds in 22.5 s against 45.1 at 4 bits, into 18.0 MiB against 49.1,
	 * inserts 315-350 rows/s against 240-286, and serves as many queries
	 * at the same recall (interleaved at ef_search 80: 459-536 queries/s
	 * at recall@10 0.953, against 433-451 at 0.961).  At 128 dimensions 1
	 * bit is too coarse to walk on (sift-128: 0.776 at ef_search 40 against
	 * 0.973).
	 */
	if (dim >= 1024)
		return 1;
	for (int i = 0; i < lengthof(autobits); i++)
		if (HnswNodesPerPage(HnswNodeSize(HnswCodesRecordSize(dim, autobits[i], 0), m, 0)) >= 1)
			return autobits[i];
	return 1;
}

/*
 * The bits of the re-ranking code beside a walk's code of bits bits, from
 * the option rerank_bits.  Asked for: as asked, if more than the walk's
 * (the build says otherwise).  Left at 0: none, except where the codes
 * were chosen for a column too wide for its vectors (chosen), as the
 * walk's 1 bit is from 1,024 dimensions on: then 4 bits, or 2 where a
 * node would not fit a page with 4.  On glove-3072 (50,000 rows, cosine)
 * 4 bits took queries/s at recall 0.95 from 608-703 to 869-877, the index
 * from 28 to 131 MiB (pgvector's, on a halfvec expression: 391 MiB) and
 * the build from 14 to 23 s (bench/ann.py, README.md's tuning table).
 */
int
HnswChooseRerankBits(int dim, int m, Size filter_size, int bits, int rerank_bits, bool chosen)
{
	static const int autobits[] = {4, 2};

	if (bits <= 0)
		return 0;
	if (rerank_bits > 0)
		return rerank_bits > bits && rerank_bits <= HNSW_MAX_BITS ? rerank_bits : 0;
	if (!chosen || dim < HNSW_PROBABLE_MIN_DIM)
		return 0;
	for (int i = 0; i < lengthof(autobits); i++)
		if (autobits[i] > bits &&
			HnswNodesPerPage(HnswNodeSize(HnswCodesRecordSize(dim, bits, autobits[i]), m,
										  filter_size)) >= 1)
			return autobits[i];
	return 0;
}

/* Record geometry for codes of bits bits (and a re-ranking code, or 0). */
void
HnswSetCodesGeometry(HnswState *st, int bits, int rerank_bits)
{
	int			padded = rbq_padded(st->dim);

	st->bits = bits;
	st->rerank_bits = rerank_bits;
	st->gdim = padded;
	st->item_refs = false;
	st->item_size = HnswCodesRecordSize(st->dim, bits, rerank_bits);
	st->walk_size = HnswCodesRecordSize(st->dim, bits, 0);
	st->item_max = Max(MAXALIGN(st->item_size), sizeof(float) * padded);
	st->item_max = Max(st->item_max, MAXALIGN(st->ops->item_size(st->dim)));
	st->node_size = HnswNodeSize(st->item_size, st->m, st->filter_size);
	st->nodes_per_page = HnswNodesPerPage(st->node_size);
	/* graph items are float vectors whatever the type */
	st->dist = vector_type_ops.distance(st->metric);
	st->codes = NULL;
}

/* Record geometry of format version 1: the stored vectors themselves. */
void
HnswSetFloatGeometry(HnswState *st)
{
	st->bits = 0;
	st->rerank_bits = 0;
	st->gdim = st->dim;
	st->item_refs = st->ops->item_len != NULL;
	st->item_max = MAXALIGN(st->ops->item_size(st->dim));
	st->item_size = st->item_refs ? sizeof(HnswItemRef) : st->item_max;
	st->walk_size = st->item_size;
	st->node_size = HnswNodeSize(st->item_size, st->m, st->filter_size);
	st->nodes_per_page = HnswNodesPerPage(st->node_size);
	st->dist = st->ops->distance(st->metric);
	st->codes = NULL;
}

/* ---------------------------------------------------------------- codec */

static RbqMetric
rbqMetric(VecMetric metric)
{
	switch (metric)
	{
		case VEC_METRIC_L2:
			return RBQ_METRIC_L2;
		case VEC_METRIC_IP:
			return RBQ_METRIC_IP;
		default:
			return RBQ_METRIC_COSINE;
	}
}

static void
badCodesPage(HnswState *st, BlockNumber blk)
{
	HnswBadPage(st->index, blk, HNSW_PAGE_CODES);
}

/* Floats of centre on a codes page: after the header on the first. */
static int
centreFloatsOn(int page)
{
	Size		room = BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(HnswPageOpaqueData));

	if (page == 0)
		room -= MAXALIGN(sizeof(HnswCodesPageData));
	return room / sizeof(float);
}

/*
 * The first codes page's header (the seed, which identifies the build, and
 * the page count), checked.
 */
static void
readCodesHeader(HnswState *st, HnswCodesPageData *out)
{
	Buffer		buf = HnswReadBuffer(st->index, st->codes_blk);
	Page		page;
	HnswCodesPageData *h;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!HnswPageIs(page, HNSW_PAGE_CODES))
		badCodesPage(st, st->codes_blk);
	h = (HnswCodesPageData *) PageGetContents(page);
	if (h->magic != HNSW_MAGIC || h->dim != (uint32) st->dim || h->npages < 1 ||
		h->npages > (uint32) (st->dim / centreFloatsOn(1) + 2))
		badCodesPage(st, st->codes_blk);
	*out = *h;
	UnlockReleaseBuffer(buf);
}

/* Read the centre from the codes pages (npages of them, from readCodesHeader). */
static void
readCodesPages(HnswState *st, uint32 npages, float *centre)
{
	int			done = 0;

	for (uint32 p = 0; p < npages; p++)
	{
		BlockNumber blk = st->codes_blk + p;
		Buffer		buf = ReadBuffer(st->index, blk);
		Page		page;
		char	   *data;
		int			n;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!HnswPageIs(page, HNSW_PAGE_CODES))
			badCodesPage(st, blk);
		data = PageGetContents(page);
		if (p == 0)
			data += MAXALIGN(sizeof(HnswCodesPageData));
		n = Min(centreFloatsOn(p), st->dim - done);
		memcpy(centre + done, data, sizeof(float) * n);
		done += n;
		UnlockReleaseBuffer(buf);
	}
	if (done != st->dim)
		badCodesPage(st, st->codes_blk);
}

/*
 * The parts of a codec that depend only on the build (the rotation, the
 * centre and its image P c): what the codes pages hold, worked out.  Every
 * insert and scan needs them, and working them out costs two reads of the
 * pages and a rotation (tens of microseconds at 1,536 dimensions, a tenth
 * of an insert), so each backend keeps the last few, keyed by the index's
 * file and the build's nonce (drawn per build, so that an index rebuilt
 * into the same file, as TRUNCATE of a table created in the same
 * transaction does, is never taken for the old one).  States get copies,
 * so an entry may go at any time.
 */
typedef struct CodecCacheEntry
{
	Oid			dbid;			/* InvalidOid: unused */
	uint32		relnumber;
	BlockNumber codes_blk;
	uint64		seed;
	uint32		nonce;
	bool		provisional;
	int			dim;
	uint64		used;			/* for LRU */
	MemoryContext cxt;
	RbqRotation *rot;
	float	   *centre;
	float	   *pcentre;
	double		cnorm;
} CodecCacheEntry;

#define CODEC_CACHE_SIZE	8
static CodecCacheEntry codecCache[CODEC_CACHE_SIZE];
static uint64 codecTick;

/*
 * The codecs' scratch, one set per backend.  Every use of a buffer begins
 * and ends inside one call (a score, an encode, a decode), and nothing in
 * such a call reaches another state's codec, so all of them can share it.
 * Allocating it per scan cost a tenth of a scan at 1,536 dimensions: the
 * larger buffers went to malloc and back, and the kernel faulted their
 * pages in again every time.  A buffer only grows; a smaller one it
 * replaces is kept, since states made before still point to it.
 */
typedef struct ScratchBuf
{
	void	   *p;
	Size		size;
} ScratchBuf;

static struct
{
	ScratchBuf	work;
	ScratchBuf	rotated;
	ScratchBuf	levels;
	ScratchBuf	floats;
	ScratchBuf	rec;
	ScratchBuf	batch;
	const uint8 *codes[2 * HNSW_MAX_M];
	int32		dots[2 * HNSW_MAX_M];
} sharedScratch;

static void *
scratch(ScratchBuf *b, Size size)
{
	if (b->size < size)
	{
		b->size = Max(size, 2 * b->size);
		b->p = MemoryContextAllocExtended(TopMemoryContext, b->size, MCXT_ALLOC_HUGE);
	}
	return b->p;
}

/* Allocate st's codec, in the current context (its scratch is shared). */
static HnswCodes *
codecAlloc(HnswState *st)
{
	HnswCodes  *c = palloc0(sizeof(HnswCodes));
	int			padded = rbq_padded(st->dim);

	Assert(st->bits > 0);
	c->bits = st->bits;
	c->rerank_bits = st->rerank_bits;
	c->padded = padded;
	c->metric = rbqMetric(st->metric);
	c->centre = palloc(sizeof(float) * st->dim);
	c->rot = palloc(rbq_rotation_size(st->dim));
	c->work = scratch(&sharedScratch.work, rbq_work_size(padded));
	c->rotated = scratch(&sharedScratch.rotated, sizeof(double) * padded);
	c->levels = scratch(&sharedScratch.levels, padded);
	c->floats = scratch(&sharedScratch.floats, sizeof(float) * st->dim);
	c->rec = scratch(&sharedScratch.rec, MAXALIGN(st->item_size));
	c->batch = scratch(&sharedScratch.batch, (Size) MAXALIGN(st->item_size) * 2 * HNSW_MAX_M);
	c->codes = sharedScratch.codes;
	c->dots = sharedScratch.dots;
	c->pcentre = palloc(sizeof(float) * padded);
	st->codes = c;
	return c;
}

/* Work out the rotation, P c and |c| of a codec whose centre is set. */
static void
codecDerive(HnswState *st, HnswCodes *c, uint64 seed)
{
	double	   *pc = c->rotated;

	c->seed = seed;
	rbq_rotation_init(c->rot, st->dim, seed);
	rbq_rotate_double(c->rot, c->centre, NULL, pc);
	for (int i = 0; i < c->padded; i++)
		c->pcentre[i] = (float) pc[i];
	c->cnorm = 0;
	for (int i = 0; i < st->dim; i++)
		c->cnorm += (double) c->centre[i] * c->centre[i];
	c->cnorm = sqrt(c->cnorm);
}

/* The build's codec, around the centre it computed (hnswbuild.c). */
void
HnswCodesInit(HnswState *st, const float *centre)
{
	HnswCodes  *c = codecAlloc(st);

	memcpy(c->centre, centre, sizeof(float) * st->dim);
	codecDerive(st, c, HNSW_CODES_SEED);
}

/* CRC-32C of a centre, kept on the first codes page. */
static uint32
centreCrc(const float *centre, int dim)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, centre, sizeof(float) * dim);
	FIN_CRC32C(crc);
	return crc;
}

/*
 * The codec of an index with codes, set up on first use from its codes
 * pages (HnswLoadMeta does, in the operation's memory context), which must
 * outlive st.
 */
HnswCodes *
HnswCodesGet(HnswState *st)
{
	HnswCodes  *c;
	HnswCodesPageData h;
	CodecCacheEntry *e = NULL;
	CodecCacheEntry *victim = &codecCache[0];
	MemoryContext old;

	if (likely(st->codes != NULL))
		return st->codes;
	c = codecAlloc(st);
	if (st->codes_blk == InvalidBlockNumber)
	{
		/* built empty: codes around the origin */
		memset(c->centre, 0, sizeof(float) * st->dim);
		codecDerive(st, c, HNSW_CODES_SEED);
		return c;
	}
	readCodesHeader(st, &h);
	for (int i = 0; i < CODEC_CACHE_SIZE; i++)
	{
		CodecCacheEntry *x = &codecCache[i];

		if (x->dbid == MyDatabaseId && x->relnumber == VecRelFileNumber(st->index) &&
			x->codes_blk == st->codes_blk && x->seed == h.seed && x->nonce == h.nonce &&
			x->dim == st->dim)
			e = x;
		if (x->used < victim->used)
			victim = x;
	}
	if (e != NULL)
	{
		e->used = ++codecTick;
		c->seed = e->seed;
		c->nonce = e->nonce;
		c->provisional = e->provisional;
		memcpy(c->rot, e->rot, rbq_rotation_size(st->dim));
		memcpy(c->centre, e->centre, sizeof(float) * st->dim);
		memcpy(c->pcentre, e->pcentre, sizeof(float) * c->padded);
		c->cnorm = e->cnorm;
		return c;
	}
	c->nonce = h.nonce;
	c->provisional = (h.flags & HNSW_CODES_PROVISIONAL) != 0;
	/* a provisional centre is zeros, whatever its pages hold (see HnswCodesSetCentre) */
	if (c->provisional)
		memset(c->centre, 0, sizeof(float) * st->dim);
	else
		readCodesPages(st, h.npages, c->centre);
	if (!c->provisional && centreCrc(c->centre, st->dim) != h.crc)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a damaged codes page", RelationGetRelationName(st->index)),
				 errdetail("The centre the codes are made around does not match its checksum."),
				 errhint("REINDEX the index.")));
	codecDerive(st, c, h.seed);

	/* keep it, in place of the least recently used entry */
	if (victim->cxt == NULL)
		victim->cxt = AllocSetContextCreate(TopMemoryContext, "hnsw codec cache",
											ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(victim->cxt);
	old = MemoryContextSwitchTo(victim->cxt);
	victim->rot = palloc(rbq_rotation_size(st->dim));
	memcpy(victim->rot, c->rot, rbq_rotation_size(st->dim));
	victim->centre = palloc(sizeof(float) * st->dim);
	memcpy(victim->centre, c->centre, sizeof(float) * st->dim);
	victim->pcentre = palloc(sizeof(float) * c->padded);
	memcpy(victim->pcentre, c->pcentre, sizeof(float) * c->padded);
	MemoryContextSwitchTo(old);
	victim->cnorm = c->cnorm;
	victim->dbid = MyDatabaseId;
	victim->relnumber = VecRelFileNumber(st->index);
	victim->codes_blk = st->codes_blk;
	victim->seed = h.seed;
	victim->nonce = h.nonce;
	victim->provisional = c->provisional;
	victim->dim = st->dim;
	victim->used = ++codecTick;
	return c;
}

/* item's floats, normalised for cosine (in double, then rounded once). */
static void
itemFloats(HnswState *st, const void *item, float *out)
{
	st->ops->item_to_floats(item, st->dim, out);
	if (st->metric == VEC_METRIC_COSINE)
	{
		double		nn = 0;

		for (int i = 0; i < st->dim; i++)
			nn += (double) out[i] * out[i];
		if (nn > 0)
		{
			double		norm = sqrt(nn);

			for (int i = 0; i < st->dim; i++)
				out[i] = (float) (out[i] / norm);
		}
	}
}

/*
 * The stored record of item (a stored item of the type, as
 * VecIndexValueToItem makes it).
 */
void
HnswEncode(HnswState *st, const void *item, char *record)
{
	HnswCodes  *c = HnswCodesGet(st);
	RbqFactors	f;
	double	   *r = (double *) c->work;

	itemFloats(st, item, c->floats);
	rbq_rotate_double(c->rot, c->floats, c->centre, r);
	rbq_encode_rotated(r, c->padded, c->bits, r + c->padded,
					   (uint8 *) record + sizeof(RbqFactors), &f);
	memcpy(record, &f, sizeof(RbqFactors));
	/* the re-ranking code: the same rotated vector, on more bits */
	if (c->rerank_bits > 0)
	{
		char	   *fine = record + st->walk_size;

		rbq_encode_rotated(r, c->padded, c->rerank_bits, r + c->padded,
						   (uint8 *) fine + sizeof(RbqFactors), &f);
		memcpy(fine, &f, sizeof(RbqFactors));
	}
}

/* The graph item of a stored record: alpha (u - m) + P c, padded floats. */
void
HnswDecode(HnswState *st, const char *record, float *gitem)
{
	HnswCodes  *c = HnswCodesGet(st);
	RbqFactors	f;
	float		mid = ((1 << c->bits) - 1) / 2.0f;

	memcpy(&f, record, sizeof(RbqFactors));
	rbq_code_levels((const uint8 *) record + sizeof(RbqFactors), c->padded, c->bits, c->levels);
	for (int i = 0; i < c->padded; i++)
		gitem[i] = f.alpha * ((float) c->levels[i] - mid) + c->pcentre[i];
}

/* HnswSourceItem with codes: the stored record through src, decoded into buf. */
const char *
HnswSourceCodeItem(HnswSource *src, uint32 id, char *buf)
{
	HnswState  *st = src->state;
	HnswCodes  *c = HnswCodesGet(st);
	const char *rec;

	if (src->item)
		rec = src->item(src, id, c->rec);
	else
	{
		HnswReadItem(st, id, c->rec);
		rec = c->rec;
	}
	HnswDecode(st, rec, (float *) buf);
	return buf;
}

/* Room for 2m records (MAXALIGNed), for a source to copy a batch into. */
char *
HnswCodesBatch(HnswState *st)
{
	return HnswCodesGet(st)->batch;
}

/* ---------------------------------------------------------------- queries */

/* Room for a query (HnswItemQuery, HnswFloatQuery); NULL without codes. */
void *
HnswQueryAlloc(HnswState *st)
{
	if (st->bits == 0)
		return NULL;
	return palloc(offsetof(HnswCodeQuery, rq) + rbq_query_size(rbq_padded(st->dim)));
}

/*
 * What a search scores against when it looks for the neighbours of a graph
 * item: the item itself, or with codes a query prepared from it in qbuf.
 * No bounds: only the walk uses it.
 */
const void *
HnswItemQuery(HnswState *st, const void *gitem, void *qbuf)
{
	HnswCodes  *c;
	HnswCodeQuery *q = qbuf;
	const float *g = gitem;
	double		cdot = 0;

	if (st->bits == 0)
		return gitem;
	c = HnswCodesGet(st);
	for (int i = 0; i < c->padded; i++)
	{
		c->rotated[i] = c->metric == RBQ_METRIC_L2 ? (double) g[i] - c->pcentre[i] : g[i];
		cdot += (double) c->pcentre[i] * g[i];
	}
	rbq_query_prepare_rotated(c->rotated, c->padded, c->metric, c->bits, &q->rq);
	if (c->metric != RBQ_METRIC_L2)
		q->rq.center_dot = cdot;
	q->bounds = HNSW_BOUNDS_NONE;
	q->qnorm = 0;
	return q;
}

/*
 * The query for item (a stored item of the type, or a query as
 * VecScanQueryItem makes it), into qbuf.  With bounds, scoring also fills
 * each candidate's lower bound.
 */
void
HnswPrepareQuery(HnswState *st, const void *item, bool bounds, void *qbuf)
{
	HnswCodes  *c = HnswCodesGet(st);
	HnswCodeQuery *q = qbuf;
	float	   *qv = c->floats;
	double		nn = 0;

	itemFloats(st, item, qv);
	rbq_query_prepare(c->rot, c->metric, c->bits, c->centre, qv, c->work, &q->rq);
	for (int i = 0; i < st->dim; i++)
		nn += (double) qv[i] * qv[i];
	q->qnorm = sqrt(nn);
	q->bounds = bounds ? HNSW_BOUNDS_EXACT : HNSW_BOUNDS_NONE;
}

/* Switch a query prepared with bounds between HNSW_BOUNDS_EXACT and _PROBABLE. */
void
HnswQueryBounds(void *query, int bounds)
{
	HnswCodeQuery *q = query;

	Assert(q->bounds != HNSW_BOUNDS_NONE && bounds != HNSW_BOUNDS_NONE);
	q->bounds = bounds;
}

/*
 * The least the metric can be: the executor's own value may be -Infinity
 * for an inner product, and a squared L2 or cosine distance is at least 0
 * (its SQL value the square root of the bound, so never below 0).
 */
static inline float
leastBound(const HnswCodes *c)
{
	return c->metric == RBQ_METRIC_IP ? -get_float4_infinity() : 0.0f;
}

/*
 * The bound, less what the executor's own computation of the distance may
 * err by.  rbq_score's bound holds for the exact distance of the vectors;
 * the executor re-computes it in float, each of the dim terms rounded and
 * summed in some order, which errs by at most about dim * 2^-24 of the sum
 * of the terms' magnitudes (Higham, Accuracy and Stability, 3.1), plus the
 * differences' and products' own roundings.  Squared L2's terms are its
 * sum; an inner product's magnitudes are at most |x| |q|, with |x| at most
 * |c| + |alpha| |w| + resid; the cosine divides by both norms, computed the
 * same way, and this index normalised the vector in float.  The margins
 * below are twice those, and a last step rounds down.
 */
static float
execBound(const HnswState *st, const HnswCodes *c, const HnswCodeQuery *q,
		  const RbqFactors *f, float lower)
{
	double		u = 1.0 / 16777216.0;	/* 2^-24 */
	double		n = st->dim;
	double		b = lower;

	/* no bound (vectors whose terms overflow float) */
	if (isnan(lower))
		return leastBound(c);
	switch (c->metric)
	{
		case RBQ_METRIC_L2:
			b = b * (1.0 - 2.0 * (n + 4.0) * u) - 1e-30;
			if (b < 0)
				b = 0;
			break;
		case RBQ_METRIC_IP:
			{
				double		xnorm = c->cnorm + fabs((double) f->alpha) * f->wnorm + f->resid;

				b -= 2.0 * (n + 4.0) * u * xnorm * q->qnorm + 1e-30;
				break;
			}
		default:
			b -= 2.0 * (4.0 * n + 16.0) * u;
			if (b < 0)
				b = 0;
			break;
	}
	if (b < -FLT_MAX)
		return -get_float4_infinity();
	return c->metric == RBQ_METRIC_IP ? rbq_float_below((float) b) :
		Max(rbq_float_below((float) b), 0.0f);
}

/*
 * est less hnsw_probable_sigmas of its standard error, for the scan that
 * reads rows itself (hnswscan.c, candKey), less what the executor's float
 * computation of the distance may err by (execBound).  The standard error
 * is the code's alone: where it is smaller than that rounding, the bound
 * lay above distances that ORDER BY had rounded down, and equal or nearly
 * equal rows went missing (a query far from 235 rows of low variance,
 * 2,057 dimensions, an 8-bit re-ranking code: 8 of 10 rows came back, the
 * other two tied with the first to float precision).
 */
static inline float
probableBound(const HnswState *st, const HnswCodes *c, const HnswCodeQuery *q,
			  const RbqFactors *f, float est, double sigma)
{
	double		b = (double) est - hnsw_probable_sigmas * sigma;

	if (!(b > -FLT_MAX))
		return leastBound(c);
	/* what execBound would make of it, without its work */
	if (c->metric != RBQ_METRIC_IP && b < 0)
		return 0.0f;
	return execBound(st, c, q, f, (float) b);
}

/*
 * A code's lower bound, of the kind the query asks for (probable, or one
 * that always holds): est is rbq_estimate's for dot, the kernel's result.
 */
static inline float
codeBound(const HnswState *st, const HnswCodes *c, const HnswCodeQuery *q,
		  const RbqFactors *f, int32 dot, float est)
{
	float		low;

	Assert(q->bounds != HNSW_BOUNDS_NONE);
	if (q->bounds == HNSW_BOUNDS_PROBABLE)
		return probableBound(st, c, q, f, est, rbq_estimate_sigma(&q->rq, f));
	rbq_score(&q->rq, f, dot, &est, &low);
	return execBound(st, c, q, f, low);
}

/*
 * Score records[0..n) against query (a prepared HnswCodeQuery): dist is
 * the estimate the walk follows, lower (with a query that asked for
 * bounds) what the scan hands the executor.  One kernel call scores them
 * all.  Header fields are the caller's.
 *
 * A record whose estimate is at or beyond cut gets the least bound the
 * metric allows instead of its own (HnswSource.lower_cut: it cannot
 * become a result); computing the bound is more than half of scoring.
 * That bound holds for any row, so a caller's wrong cut costs reads of
 * rows, never their order.
 */
void
HnswScoreRecords(HnswState *st, const void *query, const char **records,
				 int n, HnswCand *cands, float cut)
{
	HnswCodes  *c = HnswCodesGet(st);
	const HnswCodeQuery *q = query;

	Assert(n <= 2 * HNSW_MAX_M);
	for (int k = 0; k < n; k++)
		c->codes[k] = (const uint8 *) records[k] + sizeof(RbqFactors);
	if (n > 0)
		vk_active->rbq_dot_batch(q->rq.layout, c->codes, n, c->padded, c->bits, c->dots);
	for (int k = 0; k < n; k++)
	{
		RbqFactors	f;
		float		est;

		memcpy(&f, records[k], sizeof(RbqFactors));
		est = rbq_estimate(&q->rq, &f, c->dots[k]);
		cands[k].dist = isnan(est) ? get_float4_infinity() : est;
		if (q->bounds == HNSW_BOUNDS_NONE)
			cands[k].lower = cands[k].dist;
		else if (est < cut)
			cands[k].lower = codeBound(st, c, q, &f, c->dots[k], est);
		else
			cands[k].lower = leastBound(c);
	}
}

/*
 * Tighten the lower bounds of cands[0..n) by their re-ranking codes:
 * records[k] points at node k's (the part of its record past walk_size),
 * or is NULL to leave its bound.  The bound is of the same kind the query
 * asks for (always holding, or probable), and the tighter of the two
 * codes' bounds is kept: each holds on its own.  The query's levels serve
 * codes of any bits, so it is scored with its bits set to the re-ranking
 * code's for the call.
 */
void
HnswRerankRecords(HnswState *st, void *query, const char **records, int n,
				  HnswCand *cands)
{
	HnswCodes  *c = HnswCodesGet(st);
	HnswCodeQuery *q = query;
	int			saved = q->rq.bits;
	int			m = 0;
	int			at[2 * HNSW_MAX_M];

	Assert(n <= 2 * HNSW_MAX_M && c->rerank_bits > 0);
	if (q->bounds == HNSW_BOUNDS_NONE)
		return;
	for (int k = 0; k < n; k++)
		if (records[k] != NULL)
		{
			at[m] = k;
			c->codes[m++] = (const uint8 *) records[k] + sizeof(RbqFactors);
		}
	if (m == 0)
		return;
	q->rq.bits = c->rerank_bits;
	vk_active->rbq_dot_batch(q->rq.layout, c->codes, m, c->padded, c->rerank_bits, c->dots);
	for (int j = 0; j < m; j++)
	{
		HnswCand   *cand = &cands[at[j]];
		RbqFactors	f;
		float		low;

		memcpy(&f, records[at[j]], sizeof(RbqFactors));
		low = codeBound(st, c, q, &f, c->dots[j], rbq_estimate(&q->rq, &f, c->dots[j]));
		if (low > cand->lower)
			cand->lower = low;
	}
	q->rq.bits = saved;
}

/* ---------------------------------------------------------------- build */

/*
 * Write the codes pages after the pages so far (the build's, WAL-logged
 * with the rest of them), and return the first one's block.
 */
BlockNumber
HnswWriteCodesPages(HnswState *st, const float *centre, bool provisional)
{
	int			rest = st->dim - centreFloatsOn(0);
	uint32		npages = 1 + (rest > 0 ? (rest + centreFloatsOn(1) - 1) / centreFloatsOn(1) : 0);
	BlockNumber first = InvalidBlockNumber;
	int			done = 0;

	for (uint32 p = 0; p < npages; p++)
	{
		Buffer		buf = VecIndexNewBuffer(st->index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);
		char	   *data;
		int			n;

		HnswInitPage(page, HNSW_PAGE_CODES);
		data = PageGetContents(page);
		if (p == 0)
		{
			HnswCodesPageData *h = (HnswCodesPageData *) data;

			first = BufferGetBlockNumber(buf);
			h->magic = HNSW_MAGIC;
			h->dim = st->dim;
			h->seed = HnswCodesGet(st)->seed;
			/* any value that differs from the last build's will do */
			h->nonce = (uint32) (GetCurrentTimestamp() ^ ((uint64) MyProcPid << 20) ^
								 (uint64) VecRelFileNumber(st->index));
			h->crc = centreCrc(centre, st->dim);
			h->flags = provisional ? HNSW_CODES_PROVISIONAL : 0;
			h->npages = npages;
			data += MAXALIGN(sizeof(HnswCodesPageData));
		}
		else if (BufferGetBlockNumber(buf) != first + p)
			elog(ERROR, "hnsw codes page is block %u, expected %u",
				 BufferGetBlockNumber(buf), first + p);
		n = Min(centreFloatsOn(p), st->dim - done);
		memcpy(data, centre + done, sizeof(float) * n);
		/* full-page images skip the hole past pd_lower */
		((PageHeader) page)->pd_lower = (data + sizeof(float) * n) - (char *) page;
		done += n;
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	return first;
}

/* ---------------------------------------------------------------- build bundles */

/*
 * The in-memory build works on bundles: a node's stored record, and its
 * code's levels laid out as a query (rbq_query_layout_fill), with the
 * numbers that turn <u_a, u_b>, one integer kernel call, into the distance
 * between the vectors two codes stand for.  With w = u - m and the code's
 * vector alpha w + P c (rotated space):
 *	|a - b|^2 = alpha_a^2 |w_a|^2 + alpha_b^2 |w_b|^2 - 2 alpha_a alpha_b <w_a, w_b>
 *	<a, b>	  = alpha_a alpha_b <w_a, w_b> + alpha_a <w_a, P c> + alpha_b <w_b, P c> + |c|^2
 * and <w_a, w_b> = <u_a, u_b> - m (sum u_a + sum u_b) + m^2 padded.  So the
 * build's searches, its neighbour heuristic and its back-links all run on
 * codes, as the walk of a scan does, and a node takes a third of its
 * vector's bytes at 1,536 dimensions and 4 bits.
 */
typedef struct HnswBundle
{
	float		alpha;
	float		wsq;			/* |w|^2 */
	float		sum;			/* sum of the u_i */
	float		wc;				/* <w, P c> */
	float		cc;				/* |c|^2 */
	float		mid;			/* m */
	uint16		bits;
	uint16		metric;			/* RbqMetric */
	uint32		padded;
	uint32		layout_off;		/* from the bundle's start */
} HnswBundle;

#define BUNDLE_RECORD_OFF	MAXALIGN(sizeof(HnswBundle))

/* Bytes of one bundle of an index with codes (cst: its codes state). */
Size
HnswBundleSize(const HnswState *cst)
{
	return BUNDLE_RECORD_OFF + MAXALIGN(cst->item_size) +
		MAXALIGN(rbq_query_layout_bytes(rbq_padded(cst->dim)));
}

/* The stored record in a bundle. */
const char *
HnswBundleRecord(const void *bundle)
{
	return (const char *) bundle + BUNDLE_RECORD_OFF;
}

/* The bundle of item (a stored item of the type), into bundle. */
void
HnswMakeBundle(HnswState *cst, const void *item, char *bundle)
{
	HnswCodes  *c = HnswCodesGet(cst);
	HnswBundle *b = (HnswBundle *) bundle;
	char	   *rec = bundle + BUNDLE_RECORD_OFF;
	RbqFactors	f;
	double		mid = ((1 << c->bits) - 1) / 2.0;
	double		wsq = 0,
				wc = 0;

	HnswEncode(cst, item, rec);
	memcpy(&f, rec, sizeof(RbqFactors));
	rbq_code_levels((const uint8 *) rec + sizeof(RbqFactors), c->padded, c->bits, c->levels);
	for (int i = 0; i < c->padded; i++)
	{
		double		w = c->levels[i] - mid;

		wsq += w * w;
		wc += w * c->pcentre[i];
	}
	b->alpha = f.alpha;
	b->wsq = (float) wsq;
	b->sum = f.sum;
	b->wc = (float) wc;
	b->cc = (float) (c->cnorm * c->cnorm);
	b->mid = (float) mid;
	b->bits = c->bits;
	b->metric = c->metric;
	b->padded = c->padded;
	b->layout_off = BUNDLE_RECORD_OFF + MAXALIGN(cst->item_size);
	rbq_query_layout_fill(c->levels, c->padded, (uint8 *) bundle + b->layout_off);
}

/* The distance between the vectors two bundles' codes stand for (a VecDistanceFn). */
float
HnswBundleDist(const void *a, const void *b, int dim)
{
	const HnswBundle *x = a;
	const HnswBundle *y = b;
	int32		dot = vk_active->rbq_dot((const uint8 *) x + x->layout_off,
										 (const uint8 *) y + BUNDLE_RECORD_OFF + sizeof(RbqFactors),
										 x->padded, x->bits);
	double		m = x->mid;
	double		ww = dot - m * x->sum - m * y->sum + m * m * x->padded;
	double		ax = x->alpha,
				ay = y->alpha;
	double		ip;

	switch (x->metric)
	{
		case RBQ_METRIC_L2:
			return (float) Max(ax * ax * x->wsq + ay * ay * y->wsq - 2.0 * ax * ay * ww, 0.0);
		case RBQ_METRIC_IP:
			ip = ax * ay * ww + ax * x->wc + ay * y->wc + x->cc;
			return (float) -ip;
		default:
			ip = ax * ay * ww + ax * x->wc + ay * y->wc + x->cc;
			return (float) (1.0 - ip);
	}
}

/* A search's query for the vector a bundle's code stands for, in qbuf. */
const void *
HnswBundleQuery(HnswState *cst, const void *bundle, void *qbuf)
{
	float	   *g = palloc(sizeof(float) * rbq_padded(cst->dim));
	const void *q;

	HnswDecode(cst, HnswBundleRecord(bundle), g);
	q = HnswItemQuery(cst, g, qbuf);
	pfree(g);
	return q;
}

/* item's floats as they are coded (normalised under cosine), into out (dim floats). */
void
HnswItemFloats(HnswState *st, const void *item, float *out)
{
	itemFloats(st, item, out);
}

/* ---------------------------------------------------------------- first insert */

/*
 * An index built on an empty table has no rows to take a centre from, and
 * codes around the origin cost recall on data far from it (glove-1536,
 * 10,000 rows inserted into an index built empty, 1 bit: recall@10 0.61 at
 * ef_search 40, against 0.88 built on the rows).  So its codes pages say
 * the centre is provisional, and the first insert sets it to its own row,
 * which lies among the rows to come: under the metapage's exclusive lock,
 * and only while the index has no node, so that no code was made around
 * the old one.  An insert that coded its row around the provisional centre
 * finds, under the same lock in allocateNode, that the nonce changed
 * (HnswCodesStale), and codes it again.
 */

/* Is st's codec the provisional one (read when the index had no rows)? */
bool
HnswCodesProvisional(HnswState *st)
{
	return HnswCodesGet(st)->provisional;
}

/*
 * With a provisional codec, under the metapage lock: has the centre been
 * set since the codec was read?  Then a row coded with it must be coded
 * again.
 */
bool
HnswCodesStale(HnswState *st)
{
	HnswCodes  *c = HnswCodesGet(st);
	HnswCodesPageData h;

	if (!c->provisional)
		return false;			/* a set centre never changes */
	readCodesHeader(st, &h);
	return h.nonce != c->nonce || !(h.flags & HNSW_CODES_PROVISIONAL);
}

/*
 * Set the centre of an index whose codes pages say it is provisional to
 * item's floats, if the index still has no node.  Pages after the first
 * are written first, each a WAL record of its own (a centre of 16,000
 * floats takes 8 pages, more than one generic record holds); the first,
 * with the header, last: until it is written the centre stays provisional
 * and readers take zeros, so a crash in between leaves nothing half set.
 * The caller re-reads the codec afterwards (st->codes = NULL).
 */
void
HnswCodesSetCentre(HnswState *st, const void *item)
{
	Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
	HnswCodesPageData h;
	float	   *centre = palloc(sizeof(float) * st->dim);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	readCodesHeader(st, &h);
	if (HnswPageGetMeta(BufferGetPage(metabuf))->node_count == 0 &&
		(h.flags & HNSW_CODES_PROVISIONAL))
	{
		itemFloats(st, item, centre);
		for (int p = (int) h.npages - 1; p >= 0; p--)
		{
			BlockNumber blk = st->codes_blk + p;
			Buffer		buf = ReadBuffer(st->index, blk);
			GenericXLogState *xlog;
			Page		page;
			char	   *data;
			int			from = p == 0 ? 0 : centreFloatsOn(0) + (p - 1) * centreFloatsOn(1);
			int			n;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			if (!HnswPageIs(BufferGetPage(buf), HNSW_PAGE_CODES))
				badCodesPage(st, blk);
			xlog = VecXLogStart(st->index);
			page = GenericXLogRegisterBuffer(xlog, buf, 0);
			data = PageGetContents(page);
			if (p == 0)
			{
				HnswCodesPageData *hp = (HnswCodesPageData *) data;

				hp->flags &= ~HNSW_CODES_PROVISIONAL;
				hp->crc = centreCrc(centre, st->dim);
				hp->nonce = h.nonce + 1;
				data += MAXALIGN(sizeof(HnswCodesPageData));
			}
			n = Min(centreFloatsOn(p), st->dim - from);
			memcpy(data, centre + from, sizeof(float) * n);
			GenericXLogFinish(xlog);
			UnlockReleaseBuffer(buf);
		}
	}
	UnlockReleaseBuffer(metabuf);
	pfree(centre);
}
