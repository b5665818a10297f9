# Interrupts: statement_timeout and pg_cancel_backend stop long index
# builds (hnsw, and ivfflat in k-means and in loading) and a long index
# scan (an hnsw iterative scan whose filter matches nothing), with the
# usual "canceling statement" errors, and leave the server and the table
# usable: the build can be run again and gives a sound index.
#
# A single long graph search is stopped inside: FETCH 1 from a cursor
# whose first hnsw search runs at ef_search 1000 over 20,000 random
# 64-dimensional rows (over half the nodes scored), with statement_timeout
# 1ms set just before it, fails with the timeout error and returns no row,
# 20 times out of 20.  FETCH 1 runs nothing after the search that would
# notice the timeout, so a search that does not check for interrupts
# returns its row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('interrupts');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 256MB\nmaintenance_work_mem = 512MB\nmax_parallel_maintenance_workers = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
$node->safe_psql('postgres',
	    'CREATE TABLE big (id int, embedding vector(64));'
	  . 'INSERT INTO big SELECT i, ARRAY(SELECT sin(i * 0.001 * j + j) FROM generate_series(1, 64) j)::real[] '
	  . 'FROM generate_series(1, 60000) i;');

sub timed_out
{
	my ($sql, $name) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	like($err, qr/canceling statement due to statement timeout/, $name);
}

timed_out("SET statement_timeout = '300ms'; CREATE INDEX big_h ON big USING hnsw (embedding vector_l2_ops)",
	'statement_timeout stops an hnsw build');
timed_out("SET statement_timeout = '300ms'; CREATE INDEX big_i ON big USING ivfflat (embedding) WITH (lists = 3000)",
	'statement_timeout stops an ivfflat build in k-means');

# pg_cancel_backend from another session, once the build shows progress
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start(
	[
		$node->installed_command('psql'), '-X', '-q', '-d', $node->connstr('postgres'),
		'-c', 'CREATE INDEX big_h ON big USING hnsw (embedding vector_l2_ops)'
	],
	'<', \$in, '>', \$out, '2>', \$err);
my ($pid, $phase) = ('', '');
for (1 .. 1000)
{
	($pid, $phase) = split /\|/, $node->safe_psql('postgres',
		"SELECT pid, phase FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass");
	last if defined $phase && $phase =~ /loading tuples/;
	usleep(20_000);
}
is($phase, 'building index: loading tuples', 'the hnsw build reports its phase');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)") if $pid;
$h->finish;
like($err, qr/canceling statement due to user request/, 'pg_cancel_backend stops an hnsw build');

# the table and server are fine; the builds run to the end
$node->safe_psql('postgres',
	    'CREATE INDEX big_h ON big USING hnsw (embedding vector_l2_ops) WITH (m = 8, ef_construction = 16);'
	  . 'CREATE INDEX big_i ON big USING ivfflat (embedding) WITH (lists = 50)');
is($node->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('big_h')"), 0,
	'the hnsw index built afterwards is sound');

# a long scan: an iterative scan whose filter matches no row walks the graph
timed_out("SET statement_timeout = '20ms'; SET enable_seqscan = off; DROP INDEX big_i; "
	  . "SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000000; "
	  . "SET hnsw.scan_mem_multiplier = 1000; "
	  . "SELECT id FROM big WHERE id < 0 ORDER BY embedding <-> (SELECT embedding FROM big WHERE id = 1) LIMIT 10",
	'statement_timeout stops a long hnsw scan');

# one long search: each timed FETCH 1 is a single HnswSearchLayer call of
# ef 1000 (after the greedy descent, which has its own check); a warm-up
# cursor first loads the index into the caches, so that the 1ms timer
# mostly goes off inside the search, which scores about 11,000 nodes and
# takes several ms even on a fast idle machine.  (WHERE i > 0 makes the
# ARRAY subquery run for every row.)
$node->safe_psql('postgres',
	    'SELECT setseed(0.45);'
	  . 'CREATE TABLE rnd AS SELECT i AS id, ARRAY(SELECT random() FROM generate_series(1, 64) j WHERE i > 0)::real[]::vector(64) AS embedding '
	  . 'FROM generate_series(1, 20000) i;'
	  . 'CREATE INDEX rnd_h ON rnd USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 32)');
my $rq = random_vectors(21, 64, 4501);
$_ = [ map { ($_ + 1) / 2 } @$_ ] for @$rq;		# inside the data's [0, 1) cube
my ($cancelled, $returned) = (0, 0);
for my $i (1 .. 20)
{
	my ($warm, $q) = (vec_literal($rq->[0]), vec_literal($rq->[$i]));
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET enable_seqscan = off; SET hnsw.ef_search = 1000;\n"
		  . "BEGIN;\n"
		  . "DECLARE w CURSOR FOR SELECT 'warm', id FROM rnd ORDER BY embedding <-> '$warm';\n"
		  . "FETCH 1 FROM w;\n"
		  . "DECLARE c CURSOR FOR SELECT 'timed', id FROM rnd ORDER BY embedding <-> '$q';\n"
		  . "SET LOCAL statement_timeout = '1ms';\n"
		  . "FETCH 1 FROM c;\n",
		on_error_stop => 1);
	# psql stops at the first error: a row means the FETCH itself got through
	$returned++ if $out =~ /timed/;
	$cancelled++ if $err =~ /canceling statement due to statement timeout/ && $out !~ /timed/;
}
is($returned, 0, 'statement_timeout 1ms: no FETCH 1 over a single ef_search 1000 search returns its row');
is($cancelled, 20, 'every one of the 20 FETCHes fails with the statement timeout error');
is($node->safe_psql('postgres',
		"SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM rnd ORDER BY embedding <-> '"
		  . vec_literal($rq->[1]) . "' LIMIT 10) s"), 10,
	'the index answers queries after the cancelled searches');

is($node->safe_psql('postgres', 'SELECT count(*) FROM big'), 60000, 'the table is intact');
is_deeply([ server_log_problems($node) ], [], 'no crash in the log');
$node->stop;
done_testing();
