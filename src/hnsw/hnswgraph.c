/*
 * hnswgraph.c
 *	  The HNSW algorithm proper, independent of where the graph lives:
 *	  candidate heaps, the visited set, layer search, greedy descent,
 *	  neighbour selection and level assignment.  The build runs it on the
 *	  in-memory graph, inserts and scans on pages (through HnswSource).
 */
#include "compat.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "hnsw.h"
#include "vecheap.h"

/* ---------------------------------------------------------------- insert */

/* The candidate arrays of HnswInsertNode, sized for ef_construction. */
void
HnswInserterScratch(HnswInserter *ins)
{
	int			n = HnswEfConstruction(ins->st, 1) + 1;

	ins->w = palloc_array(HnswCand, n);
	ins->witems = palloc_array(const char *, n);
	ins->wdata = palloc_extended((Size) ins->st->item_max * n, MCXT_ALLOC_HUGE);
}

/* Are id's filter values the new node's (ins->filter)? */
static bool
sameFilter(HnswInserter *ins, uint32 id)
{
	uint32		buf[INDEX_MAX_KEYS + 1];

	return memcmp(ins->filter_of(ins, id, buf), ins->filter, ins->st->filter_size) == 0;
}

/*
 * The paper's INSERT for node id, whose item and level are stored already
 * and which no list links to yet: descend greedily from the entry point to
 * the node's level, then on each level down to 0 search with
 * ef_construction, seeded by the whole result set of the level above, and
 * choose the neighbours (the heuristic, then filled up with the nearest
 * pruned candidates).  Only then are the node's own lists written, all
 * levels, and only then the back-links, so that whoever reaches the node
 * through a back-link on some level finds its lists on every level below.
 *
 * An exact duplicate of a live node joins that node's chain instead
 * (README.md, section 1, item 9), whatever level it drew: a crowd of equal
 * vectors would otherwise fill each other's lists and push one another out
 * until some lost every incoming link.  Returns true then; the node's
 * lists were not written yet, on any level.  With codes, "exact" is the
 * same stored record (ins->same), since the scan returns a chain's members
 * with the head's bound.
 */
bool
HnswInsertNode(HnswInserter *ins, uint32 id, const void *item, int level,
			   uint32 entry, int entry_level)
{
	HnswState  *st = ins->st;
	int			top = Min(level, entry_level);
	int			from = ins->seed_ef > 0 ? Min(Max(level, 1), entry_level) : top;
	uint32	   *sel[HNSW_MAX_LEVEL + 1];
	int			nsel[HNSW_MAX_LEVEL + 1];
	int			nheur[HNSW_MAX_LEVEL + 1];
	HnswCand	ep;
	const void *query = ins->query ? ins->query : item;

	ep = HnswGreedyDescend(ins->src, query, entry, entry_level, from);
	ins->cands->n = 0;
	ins->results->n = 0;
	HnswHeapPush(ins->cands, &ep);
	if (!ep.deleted)
		HnswHeapPush(ins->results, &ep);
	for (int lc = from; lc >= 0; lc--)
	{
		int			maxlinks = HnswMaxLinks(st->m, lc);
		HnswCand   *w = ins->w;
		const char **witems = ins->witems;
		int			nw;

		HnswVisitedReset(ins->visited);
		HnswVisitedAdd(ins->visited, id);
		for (int i = 0; i < ins->cands->n; i++)
			HnswVisitedAdd(ins->visited, ins->cands->items[i].id);

		/*
		 * A level-0 node searches level 1 too (with seed_ef) and starts
		 * layer 0 from all it found, as a scan does (HnswSeedSearch).  The
		 * paper's single greedy path can end in a cluster nearer to the row
		 * than the upper-level nodes of the row's own region, and a layer-0
		 * search from there may never leave it: after half of 100 tight
		 * clusters were deleted and VACUUMed, the rows then inserted into a
		 * cluster that had lost its upper-level nodes linked only to each
		 * other and to that other cluster, an island that searches for the
		 * rest of the cluster never enter (test/t/010's data: 3-19 of 10,000
		 * rows not found by their own vectors at ef 100 in 6 runs of 6; none
		 * with seed_ef 16 or 64, 1-3 in 5 of 6 with 4).
		 */
		if (lc > level)
		{
			HnswSearchLayer(ins->src, query, ins->cands, ins->results, ins->seed_ef,
							lc, ins->visited, NULL);
			ins->cands->n = 0;
			for (int i = 0; i < ins->results->n; i++)
				HnswHeapPush(ins->cands, &ins->results->items[i]);
			continue;
		}
		HnswSearchLayer(ins->src, query, ins->cands, ins->results, HnswEfConstruction(st, lc),
						lc, ins->visited, NULL);

		nw = ins->results->n;
		memcpy(w, ins->results->items, sizeof(HnswCand) * nw);
		HnswSortCands(w, nw, id);
		for (int i = 0; i < nw; i++)
			witems[i] = ins->item(ins, w[i].id, ins->wdata + (Size) st->item_max * i);
		/*
		 * A duplicate joins the chain of the nearest node if that has the
		 * same record.  With filter columns, of the nodes that tie with
		 * the nearest, the first with the same record and filter values:
		 * rows of one vector under many values would otherwise each
		 * become a node of their own, at distance 0 from each other,
		 * which the graph cannot keep reachable.  A duplicate that drew
		 * an upper level joins too: as a node of its own it was one more
		 * of a crowd at distance 0 on every level it reached (2,000 rows
		 * of 5 vectors: 811 rows came back from an exhaustive scan).
		 */
		for (int i = 0; lc == 0 && i < (ins->filter ? nw : Min(nw, 1)) &&
			 w[i].dist == w[0].dist; i++)
		{
			if (!w[i].self_dead &&
				(ins->same ? ins->same(ins, w[i].id) :
				 w[i].dist == 0 && HnswSameItem(st, witems[i], item)) &&
				(ins->filter == NULL || sameFilter(ins, w[i].id)))
			{
				ins->chain(ins, w[i].id, id);
				for (int l = 1; l <= top; l++)
					pfree(sel[l]);
				return true;
			}
		}
		sel[lc] = palloc_array(uint32, maxlinks);
		nheur[lc] = HnswSelectNeighbours(st, w, nw, witems, maxlinks, 0, sel[lc]);
		/* filled up with the nearest pruned ones, as HnswSelectNeighbours would */
		nsel[lc] = nheur[lc];
		for (int i = 0; i < nw && nsel[lc] < maxlinks; i++)
			if (!HnswHasLink(sel[lc], nheur[lc], w[i].id))
				sel[lc][nsel[lc]++] = w[i].id;

		ins->cands->n = 0;
		for (int i = 0; i < nw; i++)
			HnswHeapPush(ins->cands, &w[i]);
		CHECK_FOR_INTERRUPTS();
	}
	for (int lc = top; lc >= 0; lc--)
		ins->write_list(ins, id, lc, sel[lc], nsel[lc]);
	for (int lc = top; lc >= 0; lc--)
	{
		if (nsel[lc] > 0)
			ins->back_links(ins, id, lc, item, sel[lc], nsel[lc], nheur[lc]);
		pfree(sel[lc]);
	}
	return false;
}

/* ---------------------------------------------------------------- walk */

/* Set up w over ids 0 .. n-1, nothing reached; the caller sets the callbacks. */
void
HnswWalkInit(HnswWalk *w, HnswSource *src, uint32 n, const uint8 *levels,
			 const uint32 *dup_next, void *arg)
{
	memset(w, 0, offsetof(HnswWalk, links));
	w->src = src;
	w->n = n;
	w->levels = levels;
	w->dup_next = dup_next;
	w->arg = arg;
	w->reached = palloc_extended(Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	w->queue = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
}

/* Forget what was reached, for a walk afresh. */
void
HnswWalkReset(HnswWalk *w)
{
	memset(w->reached, 0, w->n);
}

void
HnswWalkFree(HnswWalk *w)
{
	pfree(w->reached);
	pfree(w->queue);
}

/*
 * Mark start and everything reachable from it that is not reached yet.
 * Nodes reached by an earlier call are not walked again, so a repair that
 * links one unreached node after another walks each node once in all.
 */
void
HnswWalkFrom(HnswWalk *w, uint32 start)
{
	uint32		head = 0,
				tail = 0;

	if (start >= w->n || w->reached[start])
		return;
	w->reached[start] = 1;
	w->queue[tail++] = start;
	while (head < tail)
	{
		uint32		id = w->queue[head++];
		int			top;

		if ((head & 1023) == 0)
		{
			if (w->pause)
				w->pause();
			else
				CHECK_FOR_INTERRUPTS();
		}
		/* a duplicate chain hangs off its graph node */
		for (uint32 d = w->dup_next[id]; d < w->n && !w->reached[d]; d = w->dup_next[d])
			w->reached[d] = 1;
		top = w->levels[id] == HNSW_WALK_DUP ? -1 : w->layer0 ? 0 : w->levels[id];
		for (int level = Min(top, HNSW_MAX_LEVEL); level >= 0; level--)
		{
			int			nl = w->src->links(w->src, id, level, w->links);

			for (int i = 0; i < nl; i++)
			{
				uint32		nb = w->links[i];

				if (nb >= w->n)
					continue;
				if (w->on_link)
					w->on_link(w->arg, id, level, nb);
				if (!w->reached[nb])
				{
					w->reached[nb] = 1;
					if (w->parent)
						w->parent[nb] = id;
					w->queue[tail++] = nb;
				}
			}
		}
	}
}

/*
 * For the reachability repairs (the build's and VACUUM's): the link of
 * base's full list links[0..n) whose place a forced link may take, or -1:
 * the farthest (dist, NaN counting as farthest) that is not a tree edge of
 * the walk (parent: the node whose link first reached each of nnodes
 * nodes).  Taking such a place leaves the walk's tree whole, so no node it
 * reached loses its way in.
 */
int
HnswRepairVictim(uint32 base, const uint32 *links, const float *dist, int n,
				 const uint32 *parent, uint32 nnodes)
{
	int			far = -1;
	float		fard = -FLT_MAX;

	for (int i = 0; i < n; i++)
	{
		float		d = isnan(dist[i]) ? FLT_MAX : dist[i];

		if (links[i] < nnodes && parent[links[i]] == base)
			continue;
		if (far < 0 || d >= fard)
		{
			far = i;
			fard = d;
		}
	}
	return far;
}

/* ---------------------------------------------------------------- heaps */

void
HnswHeapInit(HnswHeap *h, int cap, bool max)
{
	h->cap = Max(cap, 16);
	h->items = palloc_array(HnswCand, h->cap);
	h->n = 0;
	h->max = max;
}

/*
 * Equal distances are ordered by a scrambled id, not the id: ordering them
 * by id would make every list full of duplicates keep the oldest ones and
 * drop each newcomer, leaving later duplicates with no incoming link.  The
 * multiplier is odd, so the order is still total and repeatable.
 */
static inline uint32
tieKey(uint32 id)
{
	return id * 2654435761u;
}

/* true when a should sit above b */
static inline bool
heapAbove(const HnswHeap *h, const HnswCand *a, const HnswCand *b)
{
	if (a->dist != b->dist)
		return h->max ? a->dist > b->dist : a->dist < b->dist;
	return h->max ? tieKey(a->id) > tieKey(b->id) : tieKey(a->id) < tieKey(b->id);
}

#define HEAP_ABOVE(x, y) heapAbove(h, (x), (y))

void
HnswHeapPush(HnswHeap *h, const HnswCand *c)
{
	if (h->n == h->cap)
	{
		h->cap *= 2;
		h->items = (HnswCand *) repalloc_huge(h->items, sizeof(HnswCand) * h->cap);
	}
	h->n++;
	VEC_HEAP_SIFT_UP(HEAP_ABOVE, h->items, h->n - 1, c);
}

HnswCand
HnswHeapPop(HnswHeap *h)
{
	HnswCand	top = h->items[0];
	HnswCand	last = h->items[--h->n];

	VEC_HEAP_SIFT_DOWN(HEAP_ABOVE, h->items, h->n, 0, &last);
	return top;
}

int
HnswCandCompare(const void *a, const void *b)
{
	const HnswCand *x = (const HnswCand *) a;
	const HnswCand *y = (const HnswCand *) b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return (tieKey(x->id) > tieKey(y->id)) - (tieKey(x->id) < tieKey(y->id));
}

/*
 * Sort candidates by distance to base, equal distances in an order that
 * depends on base.  Every list of exact duplicates would otherwise prefer
 * the same few (whichever win a fixed tie order), and all the others would
 * lose every incoming link; ordered per base, each list keeps its own
 * random-looking subset, and duplicates stay reachable.
 */
static int
candCompareFor(const void *a, const void *b, void *arg)
{
	const HnswCand *x = (const HnswCand *) a;
	const HnswCand *y = (const HnswCand *) b;
	uint32		salt = *(const uint32 *) arg * 0x9E3779B9u;
	uint32		kx,
				ky;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	kx = tieKey(x->id ^ salt);
	ky = tieKey(y->id ^ salt);
	return (kx > ky) - (kx < ky);
}

void
HnswSortCands(HnswCand *cands, int n, uint32 base)
{
	qsort_arg(cands, n, sizeof(HnswCand), candCompareFor, &base);
}

/* ---------------------------------------------------------------- visited */

/*
 * Dense mode: one uint32 stamp per node, cleared in O(1) by bumping the
 * epoch.  The build uses it, since it knows the node count.
 */
void
HnswVisitedInitDense(HnswVisited *v, uint32 n)
{
	memset(v, 0, sizeof(*v));
	v->nstamps = n;
	v->stamps = (uint32 *) palloc_extended(sizeof(uint32) * Max(n, 1),
										   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	v->epoch = 1;
}

/*
 * Hash mode: open addressing on id + 1, sized for what one search visits,
 * so that a scan of a huge index costs memory in proportion to its work.
 */
void
HnswVisitedInitHash(HnswVisited *v, uint32 expected)
{
	uint32		size = 1024;

	memset(v, 0, sizeof(*v));
	while (size < expected * 2)
		size <<= 1;
	v->slots = palloc0_array(uint32, size);
	v->mask = size - 1;
}

/*
 * Bit mode: one bit per node, for a walk under a filter.  Its two-hop step
 * marks every neighbour of the nodes it crosses, several thousand ids for
 * a 10 % filter on 100,000 rows, and a hash table that large misses the
 * cache on most of them (HnswVisitedAdd was 8 % of such a query).  The
 * scan already pays for a bitmap of node_count bits (the ids that may
 * match), so this one costs as much again.
 */
void
HnswVisitedInitBits(HnswVisited *v, uint32 n)
{
	memset(v, 0, sizeof(*v));
	v->nbits = Max(n, 64);
	v->bits = palloc_extended(sizeof(uint64) * ((v->nbits + 63) / 64),
							  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

void
HnswVisitedReset(HnswVisited *v)
{
	if (v->stamps)
	{
		if (++v->epoch == 0)
		{
			memset(v->stamps, 0, sizeof(uint32) * v->nstamps);
			v->epoch = 1;
		}
	}
	else if (v->bits)
	{
		memset(v->bits, 0, sizeof(uint64) * ((v->nbits + 63) / 64));
		v->used = 0;
	}
	else
	{
		memset(v->slots, 0, sizeof(uint32) * (v->mask + 1));
		v->used = 0;
	}
}

static void
visitedGrow(HnswVisited *v)
{
	uint32	   *old = v->slots;
	uint32		oldsize = v->mask + 1;

	v->mask = oldsize * 2 - 1;
	v->slots = (uint32 *) palloc_extended(sizeof(uint32) * (v->mask + 1),
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	v->used = 0;
	for (uint32 i = 0; i < oldsize; i++)
		if (old[i] != 0)
			HnswVisitedAdd(v, old[i] - 1);
	pfree(old);
}

/* Mark id visited; false when it already was. */
bool
HnswVisitedAdd(HnswVisited *v, uint32 id)
{
	uint32		key;
	uint32		i;

	if (v->stamps)
	{
		if (id >= v->nstamps)
		{
			/* a node added after the build sized the array: grow it */
			uint32		n = Max(id + 1, v->nstamps * 2);

			v->stamps = (uint32 *) repalloc_huge(v->stamps, sizeof(uint32) * n);
			memset(v->stamps + v->nstamps, 0, sizeof(uint32) * (n - v->nstamps));
			v->nstamps = n;
		}
		if (v->stamps[id] == v->epoch)
			return false;
		v->stamps[id] = v->epoch;
		return true;
	}

	if (v->bits)
	{
		uint64		bit = UINT64CONST(1) << (id & 63);

		if (id >= v->nbits)
		{
			/* a node added since the scan began: grow */
			uint32		words = (v->nbits + 63) / 64;
			uint32		n = Max(id + 1, v->nbits * 2);
			uint32		nwords = (n + 63) / 64;

			v->bits = repalloc_huge(v->bits, sizeof(uint64) * nwords);
			memset(v->bits + words, 0, sizeof(uint64) * (nwords - words));
			v->nbits = nwords * 64;
		}
		if (v->bits[id >> 6] & bit)
			return false;
		v->bits[id >> 6] |= bit;
		v->used++;
		return true;
	}

	if (v->used * 2 >= v->mask)
		visitedGrow(v);
	key = id + 1;
	/* Fibonacci hashing spreads consecutive ids */
	i = (key * 2654435769u) & v->mask;
	while (v->slots[i] != 0)
	{
		if (v->slots[i] == key)
			return false;
		i = (i + 1) & v->mask;
	}
	v->slots[i] = key;
	v->used++;
	return true;
}

Size
HnswVisitedMemory(const HnswVisited *v)
{
	if (v->bits)
		return sizeof(uint64) * ((v->nbits + 63) / 64);
	return v->stamps ? sizeof(uint32) * v->nstamps : sizeof(uint32) * (v->mask + 1);
}

/* ---------------------------------------------------------------- search */

#define HNSW_BRIDGE_AHEAD	8

/*
 * HnswVisitedAdd with the bit mode's usual case inline: a filtered walk
 * calls it for every neighbour of every node it crosses.
 */
static inline bool
visitedAddMay(HnswVisited *v, uint32 id)
{
	if (v->bits != NULL && id < v->nbits)
	{
		uint64	   *word = &v->bits[id >> 6];
		uint64		bit = UINT64CONST(1) << (id & 63);

		if (*word & bit)
			return false;
		*word |= bit;
		v->used++;
		return true;
	}
	return HnswVisitedAdd(v, id);
}

/*
 * The neighbours to score on layer 0 under a scan's filter (src->may): the
 * unvisited ones that may match, and, through those that cannot, their own
 * neighbours that may (ACORN-1, Patel et al., SIGMOD 2024: the walk stays
 * on the nodes of the filter, and the two-hop step keeps them connected
 * where few match), up to 2m.  A node that cannot match is never scored;
 * it is marked visited once its list was read.
 */
static int
freshMay(HnswSource *src, const uint32 *links, int nlinks, HnswVisited *visited, uint32 *fresh)
{
	uint32		bridges[2 * HNSW_MAX_M];
	uint32		links2[2 * HNSW_MAX_M];
	int			nbridges = 0;
	int			nfresh = 0;
	int			cap = 2 * src->state->m;

	for (int i = 0; i < nlinks; i++)
	{
		if (!visitedAddMay(visited, links[i]))
			continue;
		if (HnswMayMatch(src, links[i]))
			fresh[nfresh++] = links[i];
		else
			bridges[nbridges++] = links[i];
	}
	/* the bridges' lists are read one after another: load them ahead */
	if (src->prefetch)
		for (int b = 0; b < Min(nbridges, HNSW_BRIDGE_AHEAD); b++)
			src->prefetch(src, bridges[b], 0);
	for (int b = 0; b < nbridges && nfresh < cap; b++)
	{
		int			n2;

		if (src->prefetch && b + HNSW_BRIDGE_AHEAD < nbridges)
			src->prefetch(src, bridges[b + HNSW_BRIDGE_AHEAD], 0);
		n2 = src->links(src, bridges[b], 0, links2);

		for (int i = 0; i < n2 && nfresh < cap; i++)
			if (HnswMayMatch(src, links2[i]) && visitedAddMay(visited, links2[i]))
				fresh[nfresh++] = links2[i];
	}
	return nfresh;
}

/*
 * Best-first search of one layer (the paper's SEARCH-LAYER).
 *
 * cands (min-heap) and results (max-heap) come seeded by the caller.
 * Results keep the ef nearest live nodes; deleted nodes are traversed but
 * never kept, so they neither crowd out live ones nor end up as neighbours.
 * When discarded is given, every scored live node that is not (or no
 * longer) among the results goes there, and the candidate that stopped the
 * search is pushed back, so that an iterative scan can resume later.
 *
 * One call can score tens of thousands of nodes (ef_search 1000 on a large
 * index), so it checks for interrupts at every expansion.  No caller holds
 * a buffer lock across the call, and a source takes its page locks only
 * inside links and score, so the check never falls inside a lock or a WAL
 * record's construction; an error there leaves nothing half written.
 */
void
HnswSearchLayer(HnswSource *src, const void *query, HnswHeap *cands,
				HnswHeap *results, int ef, int level, HnswVisited *visited,
				HnswHeap *discarded)
{
	uint32		links[2 * HNSW_MAX_M];
	uint32		fresh[2 * HNSW_MAX_M];
	HnswCand	scored[2 * HNSW_MAX_M];

	while (cands->n > 0)
	{
		HnswCand	c;
		int			nlinks;
		int			nfresh = 0;

		CHECK_FOR_INTERRUPTS();
		c = HnswHeapPop(cands);
		if (results->n >= ef && c.dist > HnswHeapTop(results)->dist)
		{
			if (discarded)
				HnswHeapPush(cands, &c);
			break;
		}

		/* the next candidate's links, while this one's are worked on */
		if (src->prefetch && cands->n > 0)
			src->prefetch(src, HnswHeapTop(cands)->id, level);
		nlinks = src->links(src, c.id, level, links);
		if (visited->stamps)
			for (int i = 0; i < nlinks; i++)
				if (links[i] < visited->nstamps)
					__builtin_prefetch(&visited->stamps[links[i]]);
		if (level == 0 && src->may)
			nfresh = freshMay(src, links, nlinks, visited, fresh);
		else
			for (int i = 0; i < nlinks; i++)
				if (HnswVisitedAdd(visited, links[i]))
					fresh[nfresh++] = links[i];
		if (nfresh == 0)
			continue;

		/*
		 * A node scored at or beyond the farthest of ef results can never
		 * be one (the farthest only comes nearer), so unless it is kept
		 * for later it needs no lower bound.
		 */
		src->lower_cut = discarded == NULL && results->n >= ef ?
			HnswHeapTop(results)->dist : get_float4_infinity();
		src->score(src, query, fresh, nfresh, scored);
		for (int i = 0; i < nfresh; i++)
		{
			HnswCand   *s = &scored[i];
			bool		closer = results->n < ef || s->dist < HnswHeapTop(results)->dist;

			/* a slot a flagged node's stale list names, taken since lower */
			if (!HnswCandOnLevel(s, level))
				continue;
			if (closer)
				HnswHeapPush(cands, s);
			/* deleted, or on layer 0 not what the scan's filter asks for: routes only */
			if (s->deleted || (level == 0 && src->filter && s->nomatch))
				continue;
			if (closer)
			{
				HnswHeapPush(results, s);
				if (results->n > ef)
				{
					HnswCand	evicted = HnswHeapPop(results);

					if (discarded)
						HnswHeapPush(discarded, &evicted);
				}
			}
			else if (discarded)
				HnswHeapPush(discarded, s);
		}
	}
	src->lower_cut = get_float4_infinity();
}

/*
 * Greedy walk (ef = 1) from node entry through levels from_level down to
 * to_level + 1; returns the closest node found, scored, the entry for
 * to_level.
 */
HnswCand
HnswGreedyDescend(HnswSource *src, const void *query, uint32 entry,
				  int from_level, int to_level)
{
	uint32		links[2 * HNSW_MAX_M];
	HnswCand	scored[2 * HNSW_MAX_M];
	HnswCand	ep;

	src->score(src, query, &entry, 1, &ep);

	for (int level = from_level; level > to_level; level--)
	{
		bool		moved = true;

		while (moved)
		{
			int			n = src->links(src, ep.id, level, links);

			moved = false;
			if (n == 0)
				break;
			src->score(src, query, links, n, scored);
			for (int i = 0; i < n; i++)
			{
				if (scored[i].dist < ep.dist && HnswCandOnLevel(&scored[i], level))
				{
					ep = scored[i];
					moved = true;
				}
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	return ep;
}

/*
 * Keep the ef nearest results; the others go to discarded, where an
 * iterative scan takes its later rows from (they are visited, so no walk
 * scores them again).
 */
static void
trimResults(HnswHeap *results, int ef, HnswHeap *discarded)
{
	while (results->n > ef)
	{
		HnswCand	far = HnswHeapPop(results);

		if (discarded)
			HnswHeapPush(discarded, &far);
	}
}

/*
 * The entry point as a layer-0 candidate too, unless already seeded.  The
 * descent can leave it at once, and no layer-0 list need lead back to it;
 * the build links every node it cannot reach from the entry point on layer
 * 0 (HnswBuildRepairReach), so from the entry a scan that runs to the end
 * reaches every node.  Without it, an exhaustive iterative scan missed the
 * entry point's own row when nothing linked to it on layer 0 (66 rows, m 2,
 * inner product on rows near one another: 65 came back).
 */
static void
seedEntry(HnswSource *src, const void *query, uint32 entry, HnswHeap *cands,
		  HnswHeap *results, HnswVisited *visited)
{
	HnswCand	c;

	if (!HnswVisitedAdd(visited, entry))
		return;
	src->score(src, query, &entry, 1, &c);
	HnswHeapPush(cands, &c);
	if (!c.deleted && !(src->filter && c.nomatch))
		HnswHeapPush(results, &c);
}

/*
 * Seed the layer-0 search for query (cands, results, visited; results keeps
 * at most ef, the others going to discarded when given): walk greedily from
 * the entry point down to level 1, search level 1 keeping the upper_ef
 * nearest nodes, and start layer 0 from all of them and from the entry
 * point (seedEntry).  A single greedy path (upper_ef 1, the paper's) can end in a dense
 * cluster that lies nearer to the query than the upper-level nodes of the
 * query's own region, and whose layer-0 lists lead only into itself; a
 * layer-0 search started there never leaves it (see README.md, "Known
 * problems").  Level 1 holds a 1/m share of the nodes, and the nodes of
 * the query's own region among its upper_ef nearest take the search out.
 */
void
HnswSeedSearch(HnswSource *src, const void *query, uint32 entry, int entry_level,
			   int upper_ef, HnswHeap *cands, HnswHeap *results, int ef,
			   HnswVisited *visited, HnswHeap *discarded)
{
	HnswCand	ep;

	if (upper_ef <= 1 || entry_level == 0)
	{
		ep = HnswGreedyDescend(src, query, entry, entry_level, 0);
		HnswVisitedAdd(visited, ep.id);
		HnswHeapPush(cands, &ep);
		if (!ep.deleted && !(src->filter && ep.nomatch))
			HnswHeapPush(results, &ep);
		seedEntry(src, query, entry, cands, results, visited);
		trimResults(results, ef, discarded);
		return;
	}

	{
		HnswHeap	ucands;
		HnswHeap	ures;

		HnswHeapInit(&ucands, upper_ef * 4, false);
		HnswHeapInit(&ures, upper_ef + 1, true);
		ep = HnswGreedyDescend(src, query, entry, entry_level, 1);
		HnswVisitedAdd(visited, ep.id);
		HnswHeapPush(&ucands, &ep);
		HnswHeapPush(&ures, &ep);
		HnswSearchLayer(src, query, &ucands, &ures, upper_ef, 1, visited, NULL);

		/* a layer-0 walk visits them again: the visited set starts afresh */
		HnswVisitedReset(visited);
		for (int i = 0; i < ures.n; i++)
		{
			HnswVisitedAdd(visited, ures.items[i].id);
			HnswHeapPush(cands, &ures.items[i]);
			if (!ures.items[i].deleted && !(src->filter && ures.items[i].nomatch))
				HnswHeapPush(results, &ures.items[i]);
		}
		seedEntry(src, query, entry, cands, results, visited);
		trimResults(results, ef, discarded);
		pfree(ucands.items);
		pfree(ures.items);
	}
}

/* Are two graph items equal?  With codes they are gdim decoded floats. */
static bool
sameGraphItem(const HnswState *st, const void *a, const void *b)
{
	if (st->bits != 0)
		return memcmp(a, b, sizeof(float) * st->gdim) == 0;
	return HnswSameItem(st, a, b);
}

/*
 * The paper's neighbour-selection heuristic (SELECT-NEIGHBORS-HEURISTIC,
 * without extending candidates; keeping pruned ones, nearest first, until
 * the list holds fill links, when it holds fewer): walk the candidates from
 * nearest to farthest and keep one unless it is closer to an already kept
 * neighbour than to the base.  That keeps links pointing in diverse
 * directions, which is what lets the greedy search cross between clusters.
 * Nor does it keep a candidate equal to one kept (same item): equal items
 * are reached together from anywhere, so the second adds no way out.  Equal
 * items that cannot share a duplicate chain (other filter values, or -0
 * against +0) are nodes at distance 0 from each other; without this a
 * crowd of them kept only each other and no link left it (146 rows of 3
 * vectors under an array filter column: a relaxed_order scan for 100 rows
 * at ef_search 5 returned 63).
 *
 * cands must be sorted by distance to the base; items[i] is the stored item
 * of cands[i].  Writes at most maxlinks ids to out and returns the count.
 *
 * With ef_construction 1,000 and m 100 that is up to 200,000 distances, so
 * it checks for interrupts.  The in-memory build calls it under a node
 * stripe's LWLock, which holds interrupts off: there the check does nothing
 * and the build's next check outside the lock acts on it.
 */
int
HnswSelectNeighbours(HnswState *st, HnswCand *cands, int n,
					 const char *const *items, int maxlinks, int fill, uint32 *out)
{
	int			kept[2 * HNSW_MAX_M];
	int			nkept = 0;

	for (int i = 0; i < n && nkept < maxlinks; i++)
	{
		bool		good = true;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < nkept; j++)
		{
			if (HnswDist(st, items[i], items[kept[j]]) < cands[i].dist ||
				(cands[i].dist == cands[kept[j]].dist &&
				 sameGraphItem(st, items[i], items[kept[j]])))
			{
				good = false;
				break;
			}
		}
		if (good)
			kept[nkept++] = i;
	}
	/* fill the list up with the nearest pruned candidates */
	fill = Min(fill, maxlinks);
	if (nkept < fill)
	{
		bool		taken[4 * HNSW_MAX_M * HNSW_MAX_M];
		int			nfill = nkept;

		memset(taken, 0, sizeof(bool) * Min(n, (int) lengthof(taken)));
		for (int j = 0; j < nkept; j++)
			taken[kept[j]] = true;
		for (int i = 0; i < n && i < (int) lengthof(taken) && nfill < fill; i++)
			if (!taken[i])
				kept[nfill++] = i;
		nkept = nfill;
	}
	for (int j = 0; j < nkept; j++)
		out[j] = cands[kept[j]].id;
	return nkept;
}

bool
HnswHasLink(const uint32 *links, int n, uint32 id)
{
	for (int i = 0; i < n; i++)
		if (links[i] == id)
			return true;
	return false;
}

/*
 * With force, make sure links[0..n) (a list of at most maxlinks chosen by
 * the heuristic, nearest first) holds id, replacing the farthest member.
 *
 * The heuristic may drop a new node from every neighbour it selected,
 * leaving it with no incoming link and so unreachable by any search: on
 * data with many equal distances (grids, duplicates) that really happens.
 * Inserts therefore force the link into the nearest neighbour's list when
 * no back-link survived.  Returns the new length.
 */
int
HnswKeepLink(uint32 *links, int n, int maxlinks, uint32 id, bool force)
{
	if (!force || HnswHasLink(links, n, id))
		return n;
	if (n < maxlinks)
		links[n++] = id;
	else
		links[n - 1] = id;
	return n;
}

/*
 * floor(-ln(U) / ln(m)), the paper's level distribution with mL = 1/ln(m);
 * r is uniform in [0, 1).
 */
int
HnswRandomLevel(int m, double r)
{
	double		u = 1.0 - r;	/* (0, 1] */
	int			level = (int) floor(-log(u) / log((double) m));

	return Min(level, HNSW_MAX_LEVEL);
}
