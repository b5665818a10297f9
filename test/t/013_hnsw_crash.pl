# hnsw crash recovery.
#
# (a) Two concurrent streams of single-row autocommit INSERTs into a table
#     with an hnsw index (distinct seeded random vectors) are cut by an
#     immediate shutdown.  After restart and recovery: no committed row is
#     lost, and every row in the table is found through the index by its
#     own vector (k = 1 returns the row itself).  The recovered index then
#     takes more inserts and a VACUUM, and every row is still found.
# (b) An immediate shutdown in the middle of CREATE INDEX on 50,000 rows.
#     After restart the index does not exist, the table is intact, and the
#     CREATE INDEX can be run again and gives a usable index (recall@10 of
#     10 queries at ef_search = 100).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Temp ();
use Time::HiRes qw(usleep);
use VectorTest;

my $seed = 1013;
my $settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 100';

my $node = PostgreSQL::Test::Cluster->new('hnsw_crash');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 128MB\nmaintenance_work_mem = 256MB\nmax_parallel_workers_per_gather = 0\n"
	  . "log_statement = none");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');


# diagnosis of self-lookup misses: are they found at ef_search = 1000,
# and after REINDEX (i.e. is the graph, not the search, at fault)?
sub diagnose_misses
{
	my ($table, $index, $miss, $reindex) = @_;
	my $q = "SELECT count(*) FROM $table i WHERE "
	  . "(SELECT j.id FROM $table j ORDER BY j.embedding <-> i.embedding LIMIT 1) IS DISTINCT FROM i.id";
	my $big = $node->safe_psql('postgres', "SET enable_seqscan = off; SET hnsw.ef_search = 1000; $q");
	my $re = 'not tried';
	if ($reindex)
	{
		$node->safe_psql('postgres', "REINDEX INDEX $index");
		$re = $node->safe_psql('postgres', "$settings; $q");
	}
	diag(scalar(@$miss) . " missed at ef_search = 100; $big at ef_search = 1000; $re after REINDEX");
	return;
}

# ids of rows that an index scan for their own vector (k = 1) misses,
# with what it returned instead
sub self_misses
{
	my ($table, $index) = @_;
	my $q = "SELECT i.id, (SELECT j.id FROM $table j ORDER BY j.embedding <-> i.embedding LIMIT 1) AS found "
	  . "FROM $table i";
	like($node->safe_psql('postgres', "$settings; EXPLAIN (COSTS OFF) $q"),
		qr/Index Scan using $index on $table j/, "$table: self-lookup is an index scan");
	my $out = $node->safe_psql('postgres', "$settings; SELECT * FROM ($q) s WHERE found IS DISTINCT FROM id");
	return [ grep { length } split /\n/, $out ];
}

# ---- (a) inserts cut by an immediate shutdown ----
my $d = 16;
$node->safe_psql('postgres',
	    "CREATE TABLE items (id int PRIMARY KEY, embedding vector($d));"
	  . 'CREATE INDEX items_idx ON items USING hnsw (embedding vector_l2_ops)');
my $pre = random_vectors(1000, $d, $seed);
copy_vectors($node, 'items', $pre, 0);

my @streams;
for my $s (0, 1)
{
	my $vecs = random_vectors(6000, $d, $seed + 1 + $s);
	my $first = 100000 * ($s + 1);
	my $sql = join '',
	  map { 'INSERT INTO items VALUES (' . ($first + $_) . ", '" . vec_literal($vecs->[$_]) . "');\n" }
	  0 .. $#$vecs;
	push @streams, [ psql_bg($node, $sql) ];
}

# let at least 2,000 rows commit, then stop without a checkpoint
my $committed = 0;
for (1 .. 1200)
{
	$committed = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	last if $committed >= 3000;
	usleep(100_000);
}
cmp_ok($committed, '>=', 3000, "at least 2,000 rows inserted by the streams before the stop ($committed rows)");
$node->stop('immediate');
for my $st (@streams)
{
	my ($h, $out, $err) = @$st;
	eval { $h->finish; };
	unlike($$err, qr/ERROR:/, 'no insert failed before the shutdown') or diag($$err);
}
$node->start;

my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
cmp_ok($after, '>=', $committed, "no committed row lost ($committed before, $after after)");
cmp_ok($after, '<', 1000 + 12000, 'the streams were cut before their end');
my $miss = self_misses('items', 'items_idx');
is_deeply($miss, [], "after recovery every one of the $after rows is found by its own vector")
  or diag("missed (id|found): @$miss[0 .. ($#$miss < 19 ? $#$miss : 19)]");
# An insert the crash cut between writing its node and linking it leaves a
# node no list points to; its heap row never committed, so the check does
# not count it.  Checked after VACUUM, which flags the nodes of those dead
# rows and links back any live node a later insert left unreachable (rare,
# but it would make a check right after recovery flaky).
$node->safe_psql('postgres', 'VACUUM items');
is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('items_idx') p"),
	'', 'after recovery and VACUUM, vector_index_check finds nothing wrong');
diagnose_misses('items', 'items_idx', $miss, 0) if @$miss;

# the recovered index keeps working: more inserts, a VACUUM after deletes
copy_vectors($node, 'items', random_vectors(1000, $d, $seed + 10), 300000);
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 5 = 0');
$node->safe_psql('postgres', 'VACUUM items');
$miss = self_misses('items', 'items_idx');
is_deeply($miss, [], 'after more inserts, deletes and VACUUM every row is still found')
  or diag("missed (id|found): @$miss[0 .. ($#$miss < 19 ? $#$miss : 19)]");
diagnose_misses('items', 'items_idx', $miss, 1) if @$miss;

# ---- (b) immediate shutdown during CREATE INDEX ----
my $n = 50000;
my $big = as_float4(clustered_vectors($n, 32, 100, $seed + 20));
load_vectors($node, 'big', $big);
my ($h, $out, $err) = psql_bg($node,
	"SET maintenance_work_mem = '256MB';\n"
	  . "CREATE INDEX big_idx ON big USING hnsw (embedding vector_l2_ops);\n");

# wait until the build is under way, give it a moment, check it is still
# running, stop
my $running = 0;
for (1 .. 600)
{
	$running = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass");
	last if $running;
	usleep(50_000);
}
usleep(500_000);
$running = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass");
ok($running, 'CREATE INDEX was running when the server was stopped');
$node->stop('immediate');
eval { $h->finish; };
unlike($$err, qr/ERROR:/, 'no error in CREATE INDEX before the shutdown') or diag($$err);
$node->start;

is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'big_idx'"),
	0, 'the interrupted index does not exist after recovery');
is($node->safe_psql('postgres', 'SET enable_seqscan = on; SELECT count(*), sum(id) FROM big'),
	"$n|" . ($n * ($n - 1) / 2), 'the table is intact');
$node->safe_psql('postgres', "SET maintenance_work_mem = '256MB'; "
	  . 'CREATE INDEX big_idx ON big USING hnsw (embedding vector_l2_ops)');
my $queries = near_queries($big, 10, $seed + 21);
my $truth = [ map { exact_topk($big, $_, 10, 'l2') } @$queries ];
my $r = index_recall($node,
	table => 'big',
	op => '<->',
	index => 'big_idx',
	queries => $queries,
	truth => $truth,
	settings => $settings,
	name => 'rebuilt index');
cmp_ok($r, '>=', 0.95, sprintf('the re-created index works: recall@10 %.3f', $r));

is_deeply([ server_log_problems($node) ], [], 'no crash, PANIC or failed assertion in the log');
diag("data seed $seed") unless Test::More->builder->is_passing;
$node->stop;
done_testing();
