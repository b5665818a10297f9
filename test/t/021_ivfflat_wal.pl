# ivfflat WAL and crash recovery.
#
# (a) A physical streaming standby, with wal_consistency_checking = 'all' on
#     the primary (so redo is compared page by page with full images),
#     returns the same top 10 as the primary for 20 queries through the
#     index after CREATE INDEX (parallel), after inserts that chain new list
#     pages, and after DELETE + VACUUM.
# (b) Two streams of single-row autocommit INSERTs are cut by an immediate
#     shutdown: after recovery no committed row is lost and every row is
#     found through the index by its own vector at k = 1 (all lists probed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Temp ();
use Time::HiRes qw(usleep);
use VectorTest;

my $seed = 2021;
my $d = 32;
my $lists = 20;
my $vecs = as_float4(clustered_vectors(6000, $d, 20, $seed));
my $queries = near_queries($vecs, 20, $seed + 1);
my $settings = "SET enable_seqscan = off; SET ivfflat.probes = 4";

my $primary = PostgreSQL::Test::Cluster->new('ivf_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'all'\nmax_parallel_workers_per_gather = 0\n"
	  . "max_parallel_maintenance_workers = 1\nmin_parallel_table_scan_size = 0\n"
	  . "wal_keep_size = '2GB'\n"
	  # a checkpoint or an autovacuum running beside the test's VACUUM pins
	  # heap pages, which VACUUM then leaves unpruned: their deleted rows
	  # keep their index entries, and the size check below sees an extra
	  # page (seen once under AddressSanitizer, with a checkpoint forced by
	  # the full-page images of wal_consistency_checking starting then)
	  . "max_wal_size = '8GB'\ncheckpoint_timeout = '1h'\nautovacuum = off");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
$primary->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, embedding vector($d))");
copy_vectors($primary, 'items', [ @$vecs[ 0 .. 2999 ] ], 0);

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('ivf_standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

sub same_answers
{
	my ($when) = @_;
	standby_same_answers($primary, $standby, 'items', [ [ 'l2', '<->' ], [ 'cosine', '<=>' ] ], $queries, $settings, $when);
	return;
}

$primary->safe_psql('postgres',
	    "CREATE INDEX items_l2 ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = $lists);"
	  . "CREATE INDEX items_cosine ON items USING ivfflat (embedding vector_cosine_ops) WITH (lists = $lists)");
same_answers('after CREATE INDEX');

# single-row inserts and a COPY: many new list pages
for my $i (3000 .. 3199)
{
	$primary->safe_psql('postgres', "INSERT INTO items VALUES ($i, '" . vec_literal($vecs->[$i]) . "')")
	  if $i % 4 == 0;
}
copy_vectors($primary, 'items', [ @$vecs[ 3200 .. 5999 ] ], 3200);
same_answers('after inserts');

$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 3 = 0; VACUUM items');
same_answers('after DELETE + VACUUM');

# the deleted rows again: they go into the slots VACUUM freed (the list's
# room hint, WAL-logged on the directory page), and the index keeps its size
my $size_before = $primary->safe_psql('postgres', "SELECT pg_relation_size('items_l2')");
my @gone = grep { $_ % 3 == 0 && ($_ < 3000 || $_ >= 3200 || $_ % 4 == 0) } 0 .. 5999;
copy_vectors($primary, 'items', [ @$vecs[@gone] ], 100000);
is($primary->safe_psql('postgres', "SELECT pg_relation_size('items_l2')"),
	$size_before, 're-inserted rows fill the space VACUUM freed');
same_answers('after re-inserting into the freed space');
for my $idx (qw(items_l2 items_cosine))
{
	is($standby->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('$idx') p"),
		'', "$idx on the standby: vector_index_check finds nothing wrong");
}
$standby->stop;

# ---- (b) inserts cut by an immediate shutdown ----
my $node = $primary;
$node->append_conf('postgresql.conf', "wal_consistency_checking = ''");
$node->restart;
$node->safe_psql('postgres',
	    "CREATE TABLE crash (id int PRIMARY KEY, embedding vector(16));");
copy_vectors($node, 'crash', random_vectors(1000, 16, $seed + 2), 0);
$node->safe_psql('postgres', 'CREATE INDEX crash_idx ON crash USING ivfflat (embedding) WITH (lists = 10)');


my @streams;
for my $s (0, 1)
{
	my $v = random_vectors(8000, 16, $seed + 3 + $s);
	my $first = 100000 * ($s + 1);
	push @streams, [ psql_bg($node, join '',
		map { 'INSERT INTO crash VALUES (' . ($first + $_) . ", '" . vec_literal($v->[$_]) . "');\n" }
		0 .. $#$v) ];
}
my $committed = 0;
for (1 .. 1200)
{
	$committed = $node->safe_psql('postgres', 'SELECT count(*) FROM crash');
	last if $committed >= 4000;
	usleep(100_000);
}
cmp_ok($committed, '>=', 4000, "at least 3,000 rows inserted before the stop ($committed rows)");
$node->stop('immediate');
for my $st (@streams)
{
	my ($h, $out, $err) = @$st;
	eval { $h->finish; };
	unlike($$err, qr/ERROR:/, 'no insert failed before the shutdown') or diag($$err);
}
$node->start;

my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM crash');
cmp_ok($after, '>=', $committed, "no committed row lost ($committed before, $after after)");
is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('crash_idx') p"),
	'', 'vector_index_check finds nothing wrong after recovery');
my $q = 'SELECT i.id FROM crash i WHERE '
  . '(SELECT j.id FROM crash j ORDER BY j.embedding <-> i.embedding LIMIT 1) IS DISTINCT FROM i.id';
my $probe_all = 'SET enable_seqscan = off; SET ivfflat.probes = 10';
like($node->safe_psql('postgres', "$probe_all; EXPLAIN (COSTS OFF) $q"),
	qr/Index Scan using crash_idx on crash j/, 'the self-lookup is an index scan');
is($node->safe_psql('postgres', "$probe_all; SELECT count(*) FROM ($q) s"), 0,
	"after recovery every one of the $after rows is found by its own vector");

# the recovered index keeps working
copy_vectors($node, 'crash', random_vectors(1000, 16, $seed + 10), 300000);
$node->safe_psql('postgres', 'DELETE FROM crash WHERE id % 5 = 0; VACUUM crash');
is($node->safe_psql('postgres', "$probe_all; SELECT count(*) FROM ($q) s"), 0,
	'after more inserts, deletes and VACUUM every row is still found');

is_deeply([ server_log_problems($node) ], [], 'no crash, PANIC or failed assertion in the log');
diag("data seed $seed") unless Test::More->builder->is_passing;
$node->stop;
done_testing();
