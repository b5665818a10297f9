# hnsw on sparsevec: variable-length items stored out of line.
#
# (a) Recall: 5,000 seeded random sparse rows (10,000 dimensions, 20 to 100
#     non-zeros, drawn mostly from the dimensions of one of 40 topics, so
#     that rows cluster; scaled to unit length, as sparse embeddings
#     usually are: with norms that vary fivefold, the low-norm rows are
#     near everything under l2 and l1, and a dense vector index of the same
#     rows misses as many), 30 queries near the data.  For l2, ip, cosine and
#     l1, recall@10 at ef_search = 100 against the exact answers of a
#     sequential scan is at least 0.95, and vector_index_check() finds
#     nothing wrong.
# (b) WAL: a streaming standby of a primary running with
#     wal_consistency_checking = 'all' (every record's pages are compared
#     after redo) returns the primary's top 10 through its l2 and cosine
#     indexes after CREATE INDEX, after single-row and COPY inserts (new
#     item pages), and after DELETE + VACUUM.
# (c) Crash: a stream of single-row INSERTs cut by an immediate shutdown;
#     after recovery every committed row is found through the index by its
#     own vector (k = 1).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use VectorTest;

my $seed = 1031;
my $dim = sparse_dim();

my $index_settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 100';
my $exact_settings = 'SET enable_indexscan = off; SET enable_bitmapscan = off';
my $rows = sparse_rows(5000, $seed + 1, $seed);
my $queries = near_sparse($rows, 30, $seed + 2);

# ---- (a) recall ----
my $node = PostgreSQL::Test::Cluster->new('sparse');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 128MB\nmaintenance_work_mem = 256MB\nmax_parallel_workers_per_gather = 0\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
$node->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, embedding sparsevec($dim))");
copy_sparse($node, 'items', $rows, 0);
load_sparse_queries($node, $queries);

for my $c ([ 'l2', '<->' ], [ 'ip', '<#>' ], [ 'cosine', '<=>' ], [ 'l1', '<+>' ])
{
	my ($m, $op) = @$c;
	$node->safe_psql('postgres', "CREATE INDEX items_$m ON items USING hnsw (embedding sparsevec_${m}_ops)");
	like(queries_plan($node, 'items', $op, $index_settings), qr/Index Scan using items_$m /,
		"$m: the query is an index scan");
	my $truth = queries_topk($node, 'items', $op, 10, $exact_settings);
	my $got = queries_topk($node, 'items', $op, 10, $index_settings);
	my $recall = recall_at($truth, $got);
	cmp_ok($recall, '>=', 0.95, "$m: recall\@10 at ef_search 100 is $recall");
	is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('items_$m') p"),
		'', "$m: vector_index_check finds nothing wrong");
	$node->safe_psql('postgres', "DROP INDEX items_$m");
}

# ---- (c) crash: a stream of inserts cut by an immediate shutdown ----
$node->safe_psql('postgres',
	"CREATE TABLE stream (id int PRIMARY KEY, embedding sparsevec($dim));\n"
	  . 'CREATE INDEX stream_idx ON stream USING hnsw (embedding sparsevec_l2_ops)');
copy_sparse($node, 'stream', [ @$rows[ 0 .. 499 ] ], 0);
my $more = sparse_rows(4000, $seed + 3, $seed);
my ($h, $out, $err) = psql_bg($node,
	join '', map { 'INSERT INTO stream VALUES (' . (1000 + $_) . ", '" . sparse_literal($more->[$_]) . "');\n" }
	  0 .. $#$more);
my $committed = 0;
for (1 .. 1200)
{
	$committed = $node->safe_psql('postgres', 'SELECT count(*) FROM stream');
	last if $committed >= 1500;
	usleep(50_000);
}
cmp_ok($committed, '>=', 1500, "at least 1,000 rows inserted before the stop ($committed rows)");
$node->stop('immediate');
eval { $h->finish; };
unlike($$err, qr/ERROR:/, 'no insert failed before the shutdown') or diag($$err);
$node->start;
my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM stream');
cmp_ok($after, '>=', $committed, "no committed row lost ($committed before, $after after)");
cmp_ok($after, '<', 500 + 4000, 'the stream was cut before its end');
my $self = 'SELECT i.id FROM stream i WHERE (SELECT j.id FROM stream j ORDER BY j.embedding <-> i.embedding LIMIT 1) '
  . 'IS DISTINCT FROM i.id';
like($node->safe_psql('postgres', "$index_settings; EXPLAIN (COSTS OFF) $self"),
	qr/Index Scan using stream_idx on stream j/, 'the self-lookup is an index scan');
is($node->safe_psql('postgres', "$index_settings; SELECT string_agg(id::text, ',') FROM ($self) s"),
	'', "after recovery every one of the $after rows is found by its own vector");
$node->safe_psql('postgres', 'VACUUM stream');
is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('stream_idx') p"),
	'', 'after recovery and VACUUM, vector_index_check finds nothing wrong');
is_deeply([ server_log_problems($node) ], [], 'the server log has no crash of a backend');
$node->stop;

# ---- (b) a streaming standby replays every change exactly ----
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nmax_parallel_workers_per_gather = 0\nwal_keep_size = '2GB'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
$primary->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, embedding sparsevec($dim))");
copy_sparse($primary, 'items', [ @$rows[ 0 .. 1499 ] ], 0);
load_sparse_queries($primary, $queries);
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

sub same_answers
{
	my ($when) = @_;
	$primary->wait_for_catchup($standby);
	for my $c ([ 'l2', '<->' ], [ 'cosine', '<=>' ])
	{
		my ($m, $op) = @$c;
		like(queries_plan($standby, 'items', $op, $index_settings), qr/Index Scan using items_$m /,
			"$when: $m query on the standby is an index scan");
		my $p = queries_topk($primary, 'items', $op, 10, $index_settings);
		my $s = queries_topk($standby, 'items', $op, 10, $index_settings);
		is(scalar(grep { @$_ == 10 } @$p), scalar @$queries, "$when: $m: 10 rows per query on the primary");
		is_deeply($s, $p, "$when: $m: the standby returns the primary's top 10 for every query");
	}
	is_deeply([ server_log_problems($standby) ], [], "$when: the standby log has no redo failure");
	return;
}

$primary->safe_psql('postgres',
	    'CREATE INDEX items_l2 ON items USING hnsw (embedding sparsevec_l2_ops);'
	  . 'CREATE INDEX items_cosine ON items USING hnsw (embedding sparsevec_cosine_ops) '
	  . 'WITH (m = 8, ef_construction = 32)');
same_answers('after CREATE INDEX');

$primary->safe_psql('postgres',
	join '', map { "INSERT INTO items VALUES ($_, '" . sparse_literal($rows->[$_]) . "');\n" } 1500 .. 1799);
copy_sparse($primary, 'items', [ @$rows[ 1800 .. 2499 ] ], 1800);
same_answers('after inserts');

$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 3 = 0');
$primary->safe_psql('postgres', 'VACUUM items');
same_answers('after DELETE + VACUUM');
is($standby->safe_psql('postgres',
		"SELECT string_agg(p, '; ') FROM vector_index_check('items_l2') p"),
	'', 'the replayed l2 index passes vector_index_check on the standby');

$standby->stop;
$primary->stop;
done_testing();
