# hnsw under concurrency: VACUUM while inserts arrive, and inserts that add
# node pages while others scan, insert and VACUUM.
#
# (a) VACUUM of an index of 70,000 nodes, a third of them deleted, while
#     three sessions insert rows all along.  VACUUM's bitmap of deleted
#     nodes is sized from the node count at its start; the searches of its
#     repair pass meet newer nodes and raise the node count it knows, and
#     it used to look those ids up in the bitmap, past its end.  70,000
#     nodes make the bitmap (8,751 bytes) larger than a palloc chunk of the
#     default context, so that under AddressSanitizer (make check-asan) the
#     read past its end is reported.  Then: the index checks clean, and
#     all but a few (at most 1%) sampled rows are found by their own
#     vectors.
# (b) An insert that runs out of node slots adds a chunk of node pages
#     without holding the metapage lock, and publishes it at the end.
#     hnsw.test_extend_delay (a hidden test setting) pauses it between the
#     two.  Meanwhile, index scans return every old row, a second insert
#     waits on the node-page extension lock (visible in pg_locks), and
#     VACUUM waits on the insert lock for both inserts to finish (before it
#     frees slots, README "Reusing slots"), not on the metapage; all of
#     this while the first insert still holds that lock.  The first insert
#     is then cancelled: its pages stay unpublished, the second insert
#     extends and publishes its own chunk, and VACUUM completes.  Then a paused
#     extension is cut by an immediate shutdown; after recovery the index
#     takes more inserts.  Each time the index checks clean and every row
#     is found by its own vector.
# (c) A stress run: four clients insert single rows into an index that
#     starts with one node page, so that many chunks are added, while two
#     more run index scans whose rows must all exist.  Then the index
#     checks clean and every row is found by its own vector.  A protocol
#     error shows here: a chunk published twice or over another (ids mapped
#     to pages that are not theirs: "is not a node page", or rows not
#     found), a reader reaching a page before it is published, or an id
#     handed out past the capacity ("has no page after extension").
# (d) 20,000 rows inserted by one session at m = 4: every node reachable.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('hnsw_concurrency');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 128MB\nmax_connections = 30\nautovacuum = off\n"
	  . "max_parallel_workers_per_gather = 0\nmax_parallel_maintenance_workers = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

my $found_settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 200;';

# rows of $table (matching $where) that a k = 1 index scan for their own
# vector does not return
sub not_found
{
	my ($table, $where) = @_;
	my $q = "SELECT count(*) FROM $table s WHERE $where AND "
	  . "(SELECT t.id FROM $table t ORDER BY t.e <-> s.e LIMIT 1) IS DISTINCT FROM s.id";
	like($node->safe_psql('postgres', "$found_settings EXPLAIN (COSTS OFF) $q"),
		qr/Index Scan using ${table}_idx/, "$table: the self-lookup is an index scan");
	return $node->safe_psql('postgres', "$found_settings $q");
}

# Every row of $table found by its own vector, but for a few: a node that
# is reachable only from far off is missed now and then at this ef_search
# whatever the locking (issue 13, item 12; seen here under ASan: 1 of 880
# and 1 of 5,050).  A broken extension protocol loses far more: with the
# publication unserialised, 355 of 5,050 rows were not found.
sub few_not_found
{
	my ($table, $name) = @_;
	my $rows = $node->safe_psql('postgres', "SELECT count(*) FROM $table");
	my $missed = not_found($table, 'true');
	cmp_ok($missed, '<=', int($rows / 200) + 1, "$name ($missed of $rows missed)");
}

sub check_clean
{
	my ($table, $when) = @_;
	is($node->safe_psql('postgres', "SELECT string_agg(p, '; ') FROM vector_index_check('${table}_idx') p"),
		'', "$table: vector_index_check finds nothing wrong $when");
	return;
}

# psql in the background on $sql, as application_name $name
sub start_psql
{
	my ($name, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres') . " application_name=$name", '-c', $sql
		],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# ---- (a) VACUUM with concurrent inserts

$node->safe_psql('postgres', <<'SQL');
CREATE TABLE vt (id bigserial PRIMARY KEY, e vector(4));
CREATE TABLE vt_stop (x int);
INSERT INTO vt (e) SELECT ARRAY[random(), random(), random(), random()]::real[]
FROM generate_series(1, 70000);
CREATE INDEX vt_idx ON vt USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 16);
DELETE FROM vt WHERE id % 3 = 0;
SQL

# each inserter commits every 20 rows, paced so that it keeps inserting
# throughout the VACUUM, and stops once vt_stop has a row
my $inserter = <<'SQL';
DO $$
DECLARE n int := 0;
BEGIN
  LOOP
    INSERT INTO vt (e) VALUES (ARRAY[random(), random(), random(), random()]::real[]);
    n := n + 1;
    IF n % 20 = 0 THEN
      COMMIT;
      EXIT WHEN n >= 100000 OR EXISTS (SELECT 1 FROM vt_stop);
      PERFORM pg_sleep(0.005);
    END IF;
  END LOOP;
END $$;
SQL
my @ins = map { [ start_psql("vt_inserter_$_", $inserter) ] } 1 .. 3;
$node->poll_query_until('postgres', 'SELECT count(*) >= 46900 FROM vt')
  or die 'the inserters did not start';
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM vt');
my ($vret, $vout, $verr) = $node->psql('postgres', 'VACUUM vt');
my $during = $node->safe_psql('postgres', 'SELECT count(*) FROM vt') - $before;
$node->safe_psql('postgres', 'INSERT INTO vt_stop VALUES (1)');
$_->[0]->finish for @ins;
is($vret, 0, 'VACUUM with three sessions inserting completes') or diag($verr);
is(join('', map { ${ $_->[2] } } @ins), '', 'the inserting sessions saw no error');
my $added = $node->safe_psql('postgres', 'SELECT count(*) FROM vt WHERE id > 70000');
cmp_ok($during, '>', 0, 'rows were inserted while VACUUM ran');
diag("(a) $during rows inserted while VACUUM ran, $added in all");

# rows inserted during the VACUUM may wait for the next one to be linked
$node->safe_psql('postgres', 'VACUUM vt');
check_clean('vt', 'after VACUUM with concurrent inserts');
# Every node is reachable (vector_index_check), but with m = 4 and heavy
# churn a search at ef_search 200 can still miss a few (under ASan, whose
# slower VACUUM overlaps more inserts, 18 of about 4,600 once): a damaged
# graph or a misread bitmap (live nodes taken for deleted and dropped from
# lists) misses far more.
my $sample = $node->safe_psql('postgres', 'SELECT count(*) FROM vt WHERE id % 20 = 1');
my $missed = not_found('vt', 's.id % 20 = 1');
cmp_ok($missed, '<=', $sample / 100, "vt: at most 1% of $sample sampled rows missed by their own vectors");
diag("(a) $missed of $sample sampled rows missed");

# ---- (b) an extension paused between making its pages and publishing them

# 8 dimensions: 92 nodes per page; 200 rows fill 3 pages (capacity 276),
# so the 77th of the inserted rows makes the insert extend
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE ext (id int PRIMARY KEY, e vector(8));
INSERT INTO ext SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[]
FROM generate_series(1, 200) i;
CREATE INDEX ext_idx ON ext USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 16);
DELETE FROM ext WHERE id % 10 = 0;
SQL

my $holds = "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
  . "WHERE a.application_name = '%s' AND l.locktype = 'page' AND l.relation = 'ext_idx'::regclass "
  . "AND l.page = 0 AND l.granted = %s)";
my $paused_insert = "SET hnsw.test_extend_delay = '10min'; "
  . "INSERT INTO ext SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[] "
  . "FROM generate_series(%d, %d) i";

my ($h1, $out1, $err1) = start_psql('extender', sprintf($paused_insert, 201, 400));
$node->poll_query_until('postgres', sprintf($holds, 'extender', 'true'))
  or die 'the insert did not reach its extension';

few_not_found('ext', 'while an insert extends: scans find every row but a few');
my ($h2, $out2, $err2) = start_psql('waiter',
	"INSERT INTO ext SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[] "
	  . "FROM generate_series(1001, 1100) i");
ok($node->poll_query_until('postgres', sprintf($holds, 'waiter', 'false')),
	'while an insert extends: a second insert that needs room waits for the extension lock');
# VACUUM waits out the inserts in progress before it frees slots (the
# insert lock, on the index as an object); it does not wait on the metapage
# or the extension
my ($hv, $outv, $errv) = start_psql('vacuumer', 'VACUUM ext');
my $vwaits = "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
  . "WHERE a.application_name = '%s' AND l.locktype = 'object' AND l.classid = 'pg_class'::regclass "
  . "AND l.objid = 'ext_idx'::regclass AND l.granted = %s)";
ok($node->poll_query_until('postgres', sprintf($vwaits, 'vacuumer', 'false')),
	'while an insert extends: VACUUM waits for the inserts in progress, on the insert lock');
is($node->safe_psql('postgres', sprintf($holds, 'extender', 'true')), 't',
	'the extension was in progress all along');

$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'extender'");
$h1->finish;
like($$err1, qr/canceling statement due to user request/, 'the paused extension is cancelled');
$h2->finish;
is($$err2, '', 'the waiting insert then extends the index itself and completes');
$hv->finish;
is($$errv, '', 'VACUUM then completes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ext'), 280, 'ext: 180 old rows and 100 new ones');
check_clean('ext', 'after a cancelled extension');
few_not_found('ext', 'ext: every row but a few is found after a cancelled extension');

# an immediate shutdown while an extension is paused
my ($h3, $out3, $err3) = start_psql('extender', sprintf($paused_insert, 2001, 2300));
$node->poll_query_until('postgres', sprintf($holds, 'extender', 'true'))
  or die 'the insert did not reach its extension';
$node->stop('immediate');
$h3->finish;
$node->start;
$node->safe_psql('postgres',
	    "INSERT INTO ext SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[] "
	  . "FROM generate_series(3001, 3600) i");
is($node->safe_psql('postgres', 'SELECT count(*) FROM ext'), 880, 'ext: 600 more rows after the crash');
check_clean('ext', 'after a crash in an extension and more inserts');
few_not_found('ext', 'ext: every row but a few is found after the crash');

# ---- (c) stress: inserts that extend, with concurrent scans

$node->safe_psql('postgres', <<'SQL');
CREATE TABLE st (id int PRIMARY KEY, e vector(8));
CREATE SEQUENCE st_ids;
INSERT INTO st SELECT nextval('st_ids'), ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[]
FROM generate_series(1, 50) i;
CREATE INDEX st_idx ON st USING hnsw (e vector_l2_ops) WITH (m = 8, ef_construction = 32);
SQL
my $tmp = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	insert => "INSERT INTO st SELECT nextval('st_ids'), "
	  . "ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[] FROM generate_series(1, 5) i;\n",
	query => "BEGIN;\nSET LOCAL enable_seqscan = off;\n"
	  . "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM st x WHERE x.id = r.id)) AS ghost "
	  . "FROM (SELECT id FROM st ORDER BY e <-> ARRAY(SELECT random() FROM generate_series(1, 8))::real[]::vector "
	  . "LIMIT 10) r \\gset\n\\if :ghost\nSELECT 1/0 AS a_missing_row_was_returned;\n\\endif\nCOMMIT;\n");
my @runs;
for my $c ([ 'insert', 4 ], [ 'query', 2 ])
{
	my ($name, $clients) = @$c;
	open my $fh, '>', "$tmp/$name.sql" or die $!;
	print $fh $scripts{$name};
	close $fh;
	my ($out, $err) = ('', '');
	my @cmd = ($node->installed_command('pgbench'), '-n', '-c', $clients, '-j', $clients,
		'-t', 250, '-f', "$tmp/$name.sql", $node->connstr('postgres'));
	push @runs, [ $name, IPC::Run::start(\@cmd, '>', \$out, '2>', \$err), \$out, \$err ];
}
for my $r (@runs)
{
	my ($name, $h, $out, $err) = @$r;
	ok($h->finish, "stress: the $name clients ran") or diag("$$err\n$$out");
	unlike($$err, qr/ERROR|FATAL/, "stress: no $name failed") or diag($$err);
}
my $pages = $node->safe_psql('postgres', "SELECT pg_relation_size('st_idx') / 8192");
is($node->safe_psql('postgres', 'SELECT count(*) FROM st'), 50 + 4 * 250 * 5, 'st: every inserted row is there');
check_clean('st', 'after the stress run');
few_not_found('st', 'st: every row but a few is found by its own vector after the stress run');
diag("(c) index of " . (50 + 4 * 250 * 5) . " rows on $pages pages");

# ---- (d) one session's inserts at m = 4 leave every node reachable
#
# A back-link into a full list pushes one member out, and the new node's
# list takes it in as fixed.  A member the new node already held as a fill
# (one of its own nearest, beyond the heuristic's choice) stayed a fill,
# and a later push-out replaced it: its last way in gone.  Without this, 3
# of 5 runs of these 20,000 rows left 1 to 2 nodes unreachable.
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE seq (id int PRIMARY KEY, e vector(8));
INSERT INTO seq SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[]
FROM generate_series(1, 50) i;
CREATE INDEX seq_idx ON seq USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 16);
INSERT INTO seq SELECT i, ARRAY(SELECT random() + 0 * i FROM generate_series(1, 8))::real[]
FROM generate_series(51, 20000) i;
SQL
check_clean('seq', 'after 20,000 inserts by one session');

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
$node->stop;
done_testing();
