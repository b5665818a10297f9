# hnsw on sparsevec, built in parallel (issue 16, item 6): the leader and
# the workers copy the variable-length items into an arena in the DSM
# segment, beside the shared graph, each taking its chunk from an atomic
# offset.
#
# (a) 5,000 rows of the sparse data set (VectorTest::sparse_rows), in a
#     table never analysed, built with two workers: the build says it used
#     them, and at least two participants indexed rows, together all of
#     them; the whole graph stayed in memory (no spill NOTICE).  Its
#     recall@10 at ef_search 10, against the exact answers of a sequential
#     scan for 100 queries (new rows of the same topics), is at least that
#     of a serial build of the same table less 0.03; at ef_search 400 it
#     returns exactly the exact top 10 for at least 90 of the queries; and
#     vector_index_check() finds nothing wrong.  The rows were estimated
#     from the table's first blocks (the planner guesses a table never
#     analysed from a width of 32 bytes per sparsevec); those of a table
#     of fewer blocks than that are counted exactly.
# (b) 3,000 of those rows in another table, shortest first, built with two
#     workers in little maintenance_work_mem.  The build estimates an
#     item's size from the table's first blocks, which hold the shortest
#     rows here, so the item arena is full before the node slots: the build
#     spills in parallel (the NOTICE) after fewer rows than the shared graph
#     has slots.  Then every row is found through the index by its own
#     vector (none lost), recall@10 at ef_search 100 is at least 0.9, the
#     index returns the exact top 10 at ef_search 400 for at least 90 of
#     the 100 queries, and vector_index_check() finds nothing wrong.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use VectorTest;

my $seed = 1054;
my $dim = sparse_dim();
my $rows = sparse_rows(5000, $seed + 1, $seed);
my $queries = sparse_rows(100, $seed + 2, $seed);    # new rows of the same topics
my $exact_settings = 'SET enable_indexscan = off; SET enable_bitmapscan = off';

my $node = PostgreSQL::Test::Cluster->new('sparse_parallel');
$node->init;
$node->append_conf('postgresql.conf',
	# (wal_level minimal skips the WAL of an index made in the same
	# transaction, and the build then stays serial)
	"wal_level = replica\nshared_buffers = 128MB\nmax_parallel_workers_per_gather = 0\nautovacuum = off\n"
	  . "max_parallel_maintenance_workers = 2\nmax_worker_processes = 8\nmax_parallel_workers = 8\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
load_sparse_queries($node, $queries);

# CREATE INDEX with client_min_messages = debug2 (the size of the shared
# graph, the rows of each participant): its exit code and stderr
sub build
{
	my ($sql, $mem) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET maintenance_work_mem = '$mem'; SET client_min_messages = debug2; $sql");
	return ($ret, $err);
}

# rows each participant of a parallel build says it indexed
sub participants
{
	my ($err) = @_;
	return [ $err =~ /hnsw build participant indexed (\d+) rows/g ];
}

sub sum { my $s = 0; $s += $_ for @_; return $s; }

# recall@10 of index $index on $table at ef_search $ef, the plan checked
sub recall
{
	my ($table, $index, $ef, $truth) = @_;
	my $settings = "SET enable_seqscan = off; SET hnsw.ef_search = $ef";
	like(queries_plan($node, $table, '<->', $settings), qr/Index Scan using $index /,
		"$index: the query is an index scan");
	return recall_at(queries_topk($node, $table, '<->', 10, $settings), $truth);
}

# of the queries, how many get exactly the ids of their exact top 10
# (in any order: equal distances may come in either) at ef_search 400
sub exact_answers
{
	my ($table, $truth) = @_;
	my $got = queries_topk($node, $table, '<->', 10, 'SET enable_seqscan = off; SET hnsw.ef_search = 400');
	return scalar grep {
		my %in = map { $_ => 1 } @{ $got->[$_] };
		@{ $got->[$_] } == @{ $truth->[$_] } && !grep { !$in{$_} } @{ $truth->[$_] }
	} 0 .. $#$truth;
}

sub check_index
{
	my ($index) = @_;
	return $node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('$index') p");
}

# ---- (a) a parallel build that holds the whole graph ----
$node->safe_psql('postgres',
	"CREATE TABLE items (id int PRIMARY KEY, embedding sparsevec($dim)) WITH (parallel_workers = 2)");
copy_sparse($node, 'items', $rows, 0);
my $truth = queries_topk($node, 'items', '<->', 10, $exact_settings);
is(scalar(grep { @$_ == 10 } @$truth), scalar @$queries, 'the exact answers have 10 rows per query');

my ($ret, $err) = build('CREATE INDEX items_par ON items USING hnsw (embedding sparsevec_l2_ops)', '256MB');
is($ret, 0, 'the parallel build succeeds') or diag($err);
like($err, qr/using 2 parallel workers/, 'the build uses two workers');
my ($est) = $err =~ /hnsw shared graph holds \d+ nodes and \d+ bytes of items .* for (\d+) rows estimated/;
ok(defined $est, 'the shared graph has an item arena') or diag($err);
# (the planner, guessing 32 bytes a sparsevec, takes it for several times as many)
cmp_ok(abs(($est // 0) - 5000), '<', 1000, "the rows are estimated from the first blocks: $est");
my $counts = participants($err);
cmp_ok(scalar(grep { $_ > 0 } @$counts), '>=', 2,
	'at least two participants indexed rows (' . join(', ', @$counts) . ')');
is(sum(@$counts), 5000, 'the participants indexed every row between them');
unlike($err, qr/no longer fits/, 'the graph stayed in memory');
my @efs = (10);
my %par = map { $_ => recall('items', 'items_par', $_, $truth) } @efs;
my $exact = exact_answers('items', $truth);
cmp_ok($exact, '>=', 90, "at ef_search 400 the index returns the exact top 10 for $exact of 100 queries");
is(check_index('items_par'), '', 'vector_index_check finds nothing wrong with the parallel build');
$node->safe_psql('postgres', 'DROP INDEX items_par');

($ret, $err) = build('SET max_parallel_maintenance_workers = 0; '
	  . 'CREATE INDEX items_ser ON items USING hnsw (embedding sparsevec_l2_ops)', '256MB');
is($ret, 0, 'the serial build succeeds') or diag($err);
unlike($err, qr/parallel workers/, 'the serial build is serial');
for my $ef (@efs)
{
	my $ser = recall('items', 'items_ser', $ef, $truth);
	cmp_ok($par{$ef}, '>=', $ser - 0.03, "recall\@10 at ef_search $ef: parallel $par{$ef}, serial $ser");
}
$node->safe_psql('postgres', 'DROP INDEX items_ser');

# a table smaller than the sample (32 blocks): its rows are counted exactly
$node->safe_psql('postgres',
	"CREATE TABLE small (id int PRIMARY KEY, embedding sparsevec($dim)) WITH (parallel_workers = 2);\n"
	  . 'INSERT INTO small SELECT * FROM items WHERE id < 300');
my $blocks = $node->safe_psql('postgres', "SELECT pg_relation_size('small') / current_setting('block_size')::int");
($ret, $err) = build('CREATE INDEX small_par ON small USING hnsw (embedding sparsevec_l2_ops)', '64MB');
is($ret, 0, 'the parallel build of a small table succeeds') or diag($err);
($est) = $err =~ /hnsw shared graph holds \d+ nodes and \d+ bytes of items .* for (\d+) rows estimated/;
is($est, 300, "the rows of a table of $blocks blocks are counted exactly");
is(check_index('small_par'), '', 'vector_index_check finds nothing wrong with the small build');

# ---- (b) the item arena fills first: a parallel spill ----
$node->safe_psql('postgres',
	"CREATE TABLE bysize (id int PRIMARY KEY, embedding sparsevec($dim)) WITH (parallel_workers = 2);\n"
	  . 'INSERT INTO bysize SELECT * FROM items WHERE id < 3000 ORDER BY pg_column_size(embedding), id');
$truth = queries_topk($node, 'bysize', '<->', 10, $exact_settings);
($ret, $err) = build('CREATE INDEX bysize_par ON bysize USING hnsw (embedding sparsevec_l2_ops)', '3650kB');
is($ret, 0, 'the parallel build that spills succeeds') or diag($err);
like($err, qr/using 2 parallel workers/, 'the build that spills uses two workers');
my ($cap) = $err =~ /hnsw shared graph holds (\d+) nodes/;
my ($inmem) = $err =~ /hnsw graph no longer fits into maintenance_work_mem after (\d+) tuples/;
ok(defined $inmem, 'the build spills and says so') or diag($err);
note($err =~ /(hnsw shared graph holds .*)/);
$cap //= 0;
$inmem //= 0;
cmp_ok($inmem, '<', $cap, "the item arena filled first: $inmem rows in memory, $cap node slots");
cmp_ok($inmem, '>=', $cap / 2, 'the item arena held at least half as many items as there are slots');
is(sum(@{ participants($err) }), 3000, 'the participants indexed every row between them');
my $self = 'SELECT i.id FROM bysize i WHERE (SELECT j.id FROM bysize j ORDER BY j.embedding <-> i.embedding '
  . 'LIMIT 1) IS DISTINCT FROM i.id';
my $settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 40';
like($node->safe_psql('postgres', "$settings; EXPLAIN (COSTS OFF) $self"),
	qr/Index Scan using bysize_par on bysize j/, 'the self-lookup is an index scan');
is($node->safe_psql('postgres', "$settings; SELECT string_agg(id::text, ',') FROM ($self) s"),
	'', 'every row is found by its own vector');
my $spilled = recall('bysize', 'bysize_par', 100, $truth);
cmp_ok($spilled, '>=', 0.9, "recall\@10 at ef_search 100 after the spill: $spilled");
$exact = exact_answers('bysize', $truth);
cmp_ok($exact, '>=', 90, "after the spill, at ef_search 400 the exact top 10 for $exact of 100 queries");
is(check_index('bysize_par'), '', 'vector_index_check finds nothing wrong with the spilled build');

is_deeply([ server_log_problems($node) ], [], 'the server log has no crash');
$node->stop;
done_testing();
