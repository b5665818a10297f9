# hnsw WAL: a physical streaming standby replays every change to an hnsw
# index exactly.  The primary runs with wal_consistency_checking = 'all',
# so each WAL record carries full-page images and the standby compares the
# pages it rebuilds by redo with them (a mismatch stops it with
# "inconsistent page found").  After CREATE INDEX (in parallel, on disk
# for one index and in shared memory for the other), after single-row and
# COPY inserts, after DELETE + VACUUM and after more inserts, once the
# standby has replayed everything, it returns the same top 10 as the
# primary for 20 queries, through the index, for l2 and cosine indexes.
# Finally the standby is promoted and its index accepts and finds new rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

# the data seed: fixed, so that CI sees the same data each run;
# VECTOR_TEST_SEED=random (or a number) tries others (issue 13, item 12)
my $seed = $ENV{VECTOR_TEST_SEED} // 1012;
$seed = int(rand(1_000_000_000)) if $seed eq 'random';
diag("data seed $seed");
my $d = 32;
my $vecs = as_float4(clustered_vectors(5000, $d, 20, $seed));
my $queries = near_queries($vecs, 20, $seed + 1);
my $settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 100';

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nmax_parallel_workers_per_gather = 0\n"
	  # full-page images for every record: keep the WAL the standby still needs
	  . "wal_keep_size = '2GB'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
$primary->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, embedding vector($d))");
copy_vectors($primary, 'items', [ @$vecs[ 0 .. 1999 ] ], 0);

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

# wait for replay, then compare the top 10 of every query on both nodes
sub same_answers
{
	my ($when) = @_;
	standby_same_answers($primary, $standby, 'items', [ [ 'l2', '<->' ], [ 'cosine', '<=>' ] ], $queries, $settings, $when);
	return;
}

# both built in parallel: items_l2 mostly on disk (maintenance_work_mem
# leaves no room for a shared graph but the least, 1,024 nodes; when that
# is full the leader writes it, and a worker and the leader insert the
# rest as concurrent inserts do), items_cosine in shared memory
my ($ret, $out, $err) = $primary->psql('postgres',
	    "ALTER TABLE items SET (parallel_workers = 1); SET maintenance_work_mem = '3073kB'; "
	  . 'SET client_min_messages = debug1; '
	  . 'CREATE INDEX items_l2 ON items USING hnsw (embedding vector_l2_ops);');
is($ret, 0, 'parallel build that spills') or diag($err);
like($err, qr/hnsw graph no longer fits into maintenance_work_mem after 1024 tuples/,
	'the build that spills says so');
like($err, qr/using 1 parallel workers/, 'the build that spills is parallel');
$primary->safe_psql('postgres',
	    'CREATE INDEX items_cosine ON items USING hnsw (embedding vector_cosine_ops) '
	  . 'WITH (m = 8, ef_construction = 32); ALTER TABLE items RESET (parallel_workers)');
same_answers('after CREATE INDEX');

# 500 single-row autocommit INSERTs, then 1,000 rows by COPY
$primary->safe_psql('postgres',
	join '', map { "INSERT INTO items VALUES ($_, '" . vec_literal($vecs->[$_]) . "');\n" } 2000 .. 2499);
copy_vectors($primary, 'items', [ @$vecs[ 2500 .. 3499 ] ], 2500);
same_answers('after inserts');

$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 3 = 0');
$primary->safe_psql('postgres', 'VACUUM items');
same_answers('after DELETE + VACUUM');
# a deleted row is never returned: the executor's heap check would hide
# it, so look at the index itself.  VACUUM freed the deleted rows' heap
# slots, and vector_index_check reports any node it left unflagged on one
# (a scan would hand out its TID, and later a new row's); no insert has
# reused a slot yet.  The standby's replayed flags must say the same.
$primary->wait_for_catchup($standby);
for my $n ([ 'primary', $primary ], [ 'standby', $standby ])
{
	my ($name, $node) = @$n;
	is($node->safe_psql('postgres',
			"SELECT string_agg(p, '; ') FROM (SELECT vector_index_check('items_l2') p "
			  . "UNION ALL SELECT vector_index_check('items_cosine')) c"),
		'', "$name: after DELETE + VACUUM, no live node of either index points to a freed heap slot");
}

copy_vectors($primary, 'items', [ @$vecs[ 3500 .. 4499 ] ], 3500);
$primary->safe_psql('postgres', 'VACUUM items');
same_answers('after more inserts');

# the replayed index is a working index once the standby is promoted
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
copy_vectors($standby, 'items', [ @$vecs[ 4500 .. 4999 ] ], 4500);
my $selfq = 'SELECT count(*) FROM items i WHERE i.id >= 4500 AND '
  . '(SELECT j.id FROM items j ORDER BY j.embedding <-> i.embedding LIMIT 1) = i.id';
like($standby->safe_psql('postgres', "$settings; EXPLAIN (COSTS OFF) $selfq"),
	qr/Index Scan using items_l2 on items j/, 'self-lookup uses the l2 index');
my $found = $standby->safe_psql('postgres', "$settings; $selfq");
# A few seeds in ten missed rows here (issue 13, item 12) until a pushed-out
# member moved into the new node's list in the same record and scans
# started layer 0 from the ef nearest level-1 nodes.  Now about one run in
# ten misses one row at this ef_search, on the old primary too (so not a
# replay problem), and finds it at ef_search 1,000: an approximate search,
# not a lost node.
cmp_ok($found, '>=', 499, "after promotion, all but at most one of the 500 rows inserted on the new primary are found by their own vectors ($found)");
my $problems_before = $standby->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('items_l2') p");
# VACUUM links back every node the entry point cannot reach (a node that
# is reachable can still be missed at this ef_search: "Known problems")
$standby->safe_psql('postgres', 'VACUUM items');
is($standby->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('items_l2')"), 0,
	'after VACUUM, vector_index_check finds no problem (every live node is reachable)');
if ($found != 500)
{
	# diagnosis: the same rows into the old primary (never replayed), and
	# the promoted node's misses at a larger ef_search and after REINDEX
	copy_vectors($primary, 'items', [ @$vecs[ 4500 .. 4999 ] ], 4500);
	my $old = $primary->safe_psql('postgres', "$settings; $selfq");
	my $big = $standby->safe_psql('postgres', "SET enable_seqscan = off; SET hnsw.ef_search = 1000; $selfq");
	$standby->safe_psql('postgres', 'REINDEX INDEX items_l2');
	my $re = $standby->safe_psql('postgres', "$settings; $selfq");
	diag("before VACUUM, vector_index_check said: '$problems_before'");
	diag("self-lookups found: $old/500 on the old primary (no replay), "
		  . "$big/500 on the promoted node at ef_search = 1000, $re/500 there after REINDEX");
}
is($standby->safe_psql('postgres', 'SELECT count(*) FROM items'),
	scalar(grep { $_ >= 3500 || $_ % 3 } 0 .. 4999), 'row count after promotion');

is_deeply([ server_log_problems($primary) ], [], 'no crash in the primary log');
is_deeply([ server_log_problems($standby) ], [], 'no crash in the standby log');
$standby->stop;
$primary->stop;
done_testing();
