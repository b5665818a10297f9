# Point-in-time recovery with hnsw indexes.
#
# A primary with WAL archiving (and wal_consistency_checking for generic
# WAL records, which is what hnsw index changes are) takes a base backup
# of a table with an l2 and a cosine hnsw index.  Then: single-row INSERTs,
# a COPY, a DELETE with VACUUM and more inserts, then a named restore point
# (pg_create_restore_point); after it, more inserts, deletes, a VACUUM and
# an UPDATE of vectors.  The backup is restored on a new node with the
# archive as restore_command and recovery_target_name set to the restore
# point.  After recovery (and promotion) the restored node has exactly the
# rows of the restore point (ids and vectors, by md5), every row is found
# through each index at k = 1 by its own vector, an iterative index scan
# over the whole table returns every row once, top-10 queries through the
# index match the exact answer, and the index takes new rows and a VACUUM.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use VectorTest;

my $seed = 1042;
my $d = 24;
my $vecs = as_float4(random_vectors(6000, $d, $seed));
my $settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 200';

my $primary = PostgreSQL::Test::Cluster->new('pitr_primary');
$primary->init(has_archiving => 1, allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"wal_consistency_checking = 'generic'\nmax_parallel_workers_per_gather = 0\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION vector');
$primary->safe_psql('postgres', "CREATE TABLE items (id int PRIMARY KEY, embedding vector($d))");
copy_vectors($primary, 'items', [ @$vecs[ 0 .. 999 ] ], 0);
$primary->safe_psql('postgres',
	    'CREATE INDEX items_l2 ON items USING hnsw (embedding vector_l2_ops);'
	  . 'CREATE INDEX items_cos ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)');

$primary->backup('base');

# ---- before the restore point ----
$primary->safe_psql('postgres',
	join '', map { "INSERT INTO items VALUES ($_, '" . vec_literal($vecs->[$_]) . "');\n" } 1000 .. 1499);
copy_vectors($primary, 'items', [ @$vecs[ 1500 .. 2499 ] ], 1500);
$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 7 = 0');
$primary->safe_psql('postgres', 'VACUUM items');
copy_vectors($primary, 'items', [ @$vecs[ 2500 .. 2999 ] ], 2500);

my $state_sql = "SELECT count(*), md5(string_agg(id || ':' || embedding::text, ',' ORDER BY id)) FROM items";
my $at_target = $primary->safe_psql('postgres', $state_sql);
$primary->safe_psql('postgres', "SELECT pg_create_restore_point('before_churn')");

# ---- after it: none of this may reach the restored node ----
copy_vectors($primary, 'items', [ @$vecs[ 3000 .. 3999 ] ], 3000);
$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 5 = 0');
$primary->safe_psql('postgres', 'VACUUM items');
$primary->safe_psql('postgres',
	join '', map { "INSERT INTO items VALUES ($_, '" . vec_literal($vecs->[$_]) . "');\n" } 4000 .. 4299);
$primary->safe_psql('postgres', "UPDATE items SET embedding = embedding * array_fill(2, ARRAY[$d])::vector "
	  . 'WHERE id % 11 = 1');
my $at_end = $primary->safe_psql('postgres', $state_sql);
isnt($at_end, $at_target, 'the primary changed after the restore point');

# archive everything up to here
my $last = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
$primary->poll_query_until('postgres', "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver")
  or die "WAL segment $last was not archived";

# ---- restore to the restore point ----
my $restored = PostgreSQL::Test::Cluster->new('pitr_restored');
$restored->init_from_backup($primary, 'base', has_restoring => 1, standby => 0);
$restored->append_conf('postgresql.conf',
	"recovery_target_name = 'before_churn'\nrecovery_target_action = 'promote'\n"
	  . "max_parallel_workers_per_gather = 0\n");
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the restored node did not finish recovery';
like(slurp_file($restored->logfile), qr/recovery stopping at restore point "before_churn"/,
	'recovery stopped at the named restore point');

is($restored->safe_psql('postgres', $state_sql), $at_target,
	'the restored node has exactly the rows of the restore point');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM items WHERE id >= 3000 OR (id < 2500 AND id % 7 = 0)'),
	'0', 'no row inserted after the target, none deleted before it');

# every row through each index by its own vector, k = 1
for my $c ([ 'items_l2', '<->' ], [ 'items_cos', '<=>' ])
{
	my ($index, $op) = @$c;
	my $q = "SELECT i.id FROM items i WHERE (SELECT j.id FROM items j ORDER BY j.embedding $op i.embedding LIMIT 1) "
	  . 'IS DISTINCT FROM i.id';
	like($restored->safe_psql('postgres', "$settings; EXPLAIN (COSTS OFF) $q"),
		qr/Index Scan using $index on items j/, "$index: the self-lookup is an index scan");
	my $miss = $restored->safe_psql('postgres', "$settings; $q");
	is($miss, '', "$index: every restored row is found by its own vector")
	  or diag('missed: ' . join(',', (split /\n/, $miss)[ 0 .. 19 ]));

	# an iterative scan over everything returns each row once (relaxed
	# order: a strict-order scan drops rows that come out of order)
	my $all = $restored->safe_psql('postgres',
		    "$settings; SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 1000000; "
		  . "SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY embedding $op '"
		  . vec_literal($vecs->[0])
		  . "' LIMIT 100000) s");
	my $n = $restored->safe_psql('postgres', 'SELECT count(*) FROM items');
	is($all, "$n|$n", "$index: an iterative scan returns every row once ($n)");
}

# top-10 queries through the index against the exact answer
my $queries = near_queries($vecs, 20, $seed + 1);
my @live = grep { $_ >= 2500 || $_ % 7 } 0 .. 2999;
my $live_vecs = [ map { $vecs->[$_] } @live ];
my $truth = [ map { [ map { $live[$_] } @{ exact_topk($live_vecs, $_, 10, 'l2') } ] } @$queries ];
my $recall = index_recall($restored,
	table => 'items',
	op => '<->',
	index => 'items_l2',
	queries => $queries,
	truth => $truth,
	settings => $settings,
	name => 'restored items_l2');
cmp_ok($recall, '>=', 0.99, sprintf('restored items_l2: recall@10 %.3f', $recall));

# the restored index keeps working
copy_vectors($restored, 'items', [ @$vecs[ 5000 .. 5499 ] ], 5000);
$restored->safe_psql('postgres', 'DELETE FROM items WHERE id % 13 = 0; VACUUM items');
my $miss = $restored->safe_psql('postgres',
	"$settings; SELECT count(*) FROM items i WHERE i.id >= 5000 AND "
	  . '(SELECT j.id FROM items j ORDER BY j.embedding <-> i.embedding LIMIT 1) IS DISTINCT FROM i.id');
is($miss, '0', 'rows inserted after recovery are found by their own vector');

is_deeply([ server_log_problems($restored) ], [], 'no crash or inconsistent page on the restored node');
is_deeply([ server_log_problems($primary) ], [], 'no crash on the primary');
$restored->stop;
$primary->stop;
done_testing();
