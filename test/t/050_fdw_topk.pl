# Top-k over postgres_fdw shards: a coordinator and three shards on this
# machine, the extension on all of them, a hash-partitioned table whose
# partitions are foreign tables (servers with async_capable 'true'), an
# hnsw index on each shard.  The plain query
#   SELECT id FROM items ORDER BY embedding <-> q LIMIT 10
# must plan with LIMIT 10 in every shard's remote SQL and asynchronous
# foreign scans, and return exactly the hand-written UNION ALL form's rows
# and the exact top 10 (the shards search with a high hnsw.ef_search), for
# 50 queries, with a filter and with OFFSET, and still when one shard is
# served by a streaming replica.  With vector.partition_topk = off the
# plan is PostgreSQL's own Merge Append, with the same rows.  The rewrite
# works on the query, not on postgres_fdw's remote SQL: a WHERE clause
# comparing a text column with a string holding " LIMIT " and " ORDER BY "
# still gets the LIMIT after its ORDER BY in every shard's query, and the
# right rows; and the rewritten plan's nodes have distinct plan_node_ids
# (read from debug_print_plan: the old plan surgery gave its Sort and Append
# the Merge Append's id).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $seed = 3050;
my ($n, $d, $k) = (3000, 16, 10);
my $vecs = as_float4(random_vectors($n, $d, $seed));
my $queries = as_float4(random_vectors(50, $d, $seed + 1));

my @shards;
for my $i (0 .. 2)
{
	my $s = PostgreSQL::Test::Cluster->new("shard$i");
	$s->init(allows_streaming => $i == 2 ? 1 : 0);
	$s->start;
	$s->safe_psql('postgres',
		    'CREATE EXTENSION vector;'
		  . "CREATE TABLE items (id int PRIMARY KEY, embedding vector($d), cat int, note text);"
		  . 'CREATE INDEX ON items USING hnsw (embedding vector_l2_ops);'
		  . 'ALTER DATABASE postgres SET hnsw.ef_search = 1000;'
		  . "ALTER DATABASE postgres SET hnsw.iterative_scan = 'relaxed_order';");
	push @shards, $s;
}

my $coord = PostgreSQL::Test::Cluster->new('coordinator');
$coord->init;
$coord->append_conf('postgresql.conf', "session_preload_libraries = 'vector'");
$coord->start;
$coord->safe_psql('postgres',
	    'CREATE EXTENSION vector; CREATE EXTENSION postgres_fdw;'
	  . "CREATE TABLE items (id int, embedding vector($d), cat int, note text) PARTITION BY HASH (id);");
for my $i (0 .. 2)
{
	my $s = $shards[$i];
	$coord->safe_psql('postgres',
		    "CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw OPTIONS "
		  . "(host '" . $s->host . "', port '" . $s->port . "', dbname 'postgres', "
		  . "extensions 'vector', async_capable 'true', batch_size '200');"
		  . "CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i;"
		  . "CREATE FOREIGN TABLE items_$i PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER $i) "
		  . "SERVER shard$i OPTIONS (table_name 'items');");
}

# load through the coordinator: rows are routed to their shards; even rows
# have a note that reads like SQL
my $tricky = ' LIMIT 3 ORDER BY id';
my $sql = join '', map {
	"INSERT INTO items VALUES ($_, '"
	  . vec_literal($vecs->[$_]) . "', "
	  . ($_ % 10) . ", '"
	  . ($_ % 2 ? 'odd' : $tricky) . "');\n"
} 0 .. $n - 1;
$coord->safe_psql('postgres', "BEGIN;\n$sql COMMIT;");
is(join(',', map { $_->safe_psql('postgres', 'SELECT count(*) > 0 FROM items') } @shards),
	't,t,t', 'every shard holds rows');
$_->safe_psql('postgres', 'ANALYZE items') for @shards;
$coord->safe_psql('postgres', 'ANALYZE items');

sub plain_sql
{
	my ($q, %o) = @_;
	my $lit = "'" . vec_literal($q) . "'";
	my $where = $o{where} ? " WHERE $o{where}" : '';
	my $off = $o{offset} ? " OFFSET $o{offset}" : '';
	return "SELECT id FROM items$where ORDER BY embedding <-> $lit LIMIT $k$off";
}

sub union_sql
{
	my ($q, %o) = @_;
	my $lit = "'" . vec_literal($q) . "'";
	my $where = $o{where} ? " WHERE $o{where}" : '';
	my $lim = $k + ($o{offset} // 0);
	my $off = $o{offset} ? " OFFSET $o{offset}" : '';
	return 'SELECT id FROM ('
	  . join(' UNION ALL ',
		map { "(SELECT id, embedding FROM items_$_$where ORDER BY embedding <-> $lit LIMIT $lim OFFSET 0)" }
		  0 .. 2)
	  . ") s ORDER BY embedding <-> $lit LIMIT $k$off";
}

sub exact_ids
{
	my ($q, %o) = @_;
	my @ids = grep { !defined $o{keep} || $o{keep}->($_) } 0 .. $n - 1;
	my @sub = map { $vecs->[$_] } @ids;
	my $top = exact_topk(\@sub, $q, $k + ($o{offset} // 0), 'l2');
	my @r = map { $ids[$_] } @$top;
	return [ @r[ ($o{offset} // 0) .. $#r ] ];
}

# the plan
my $plan = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) ' . plain_sql($queries->[0]));
is(scalar(() = $plan =~ /Remote SQL: .* ORDER BY .* LIMIT 10\b/g), 3,
	"every shard's remote SQL has ORDER BY ... LIMIT 10") or diag($plan);
is(scalar(() = $plan =~ /Async Foreign Scan/g), 3, 'the three foreign scans are asynchronous')
  or diag($plan);
like($plan, qr/Sort\b/, 'a top-k Sort merges the shards');
unlike($plan, qr/Merge Append/, 'no Merge Append left');

# the string literal is shipped as it is, and the LIMIT still follows the ORDER BY
my $lit_plan = $coord->safe_psql('postgres',
	'EXPLAIN (VERBOSE, COSTS OFF) ' . plain_sql($queries->[0], where => "note = '$tricky'"));
is( scalar(
		() = $lit_plan =~
		  /Remote SQL: .* WHERE \(\(note = '\Q$tricky\E'\)\) ORDER BY \(embedding .*\) ASC NULLS LAST LIMIT 10\b[^']*$/mg
	),
	3,
	'WHERE note = \'' . $tricky . '\': every remote SQL has the string, then ORDER BY ... LIMIT 10'
) or diag($lit_plan);
is(scalar(() = $lit_plan =~ /Async Foreign Scan/g), 3, 'and the three foreign scans are asynchronous')
  or diag($lit_plan);
unlike($lit_plan, qr/Merge Append/, 'and no Merge Append');

# every node of the rewritten plans has its own plan_node_id
sub plan_node_ids
{
	my ($sqltext) = @_;
	my ($out, $err) = ('', '');
	$coord->psql('postgres',
		"SET debug_print_plan = on; SET client_min_messages = log; $sqltext",
		stdout => \$out, stderr => \$err, on_error_die => 1);
	# from 17 on a field of an embedded struct is printed with its path:
	# ":plan.plan_node_id", and in a scan node ":scan.plan.plan_node_id"
	return [ $err =~ /:(?:\w+\.)*plan_node_id (\d+)/g ];
}
for my $case ([ 'plain', plain_sql($queries->[0]) ],
	[ 'string literal', plain_sql($queries->[0], where => "note = '$tricky'") ],
	[ 'OFFSET 5', plain_sql($queries->[0], offset => 5) ])
{
	my $ids = plan_node_ids($case->[1]);
	my %seen;
	$seen{$_}++ for @$ids;
	ok(@$ids >= 5 && keys(%seen) == @$ids,
		"$case->[0]: the plan's " . scalar(@$ids) . ' nodes have distinct plan_node_ids')
	  or diag("plan_node_ids: @$ids");
}

my $off = $coord->safe_psql('postgres',
	"SET vector.partition_topk = off; EXPLAIN (VERBOSE, COSTS OFF) " . plain_sql($queries->[0]));
like($off, qr/Merge Append/, 'vector.partition_topk = off leaves the Merge Append');
unlike($off, qr/LIMIT 10/, 'and no shard gets a LIMIT');

sub ids_of
{
	my ($node, $sqltext) = @_;
	return [ split /\n/, $node->safe_psql('postgres', $sqltext) ];
}

sub check_all
{
	my ($when, %o) = @_;
	my ($same_union, $same_exact, $same_off) = (0, 0, 0);
	my @qs = $o{queries} ? @$queries[ 0 .. $o{queries} - 1 ] : @$queries;
	for my $q (@qs)
	{
		my $p = ids_of($coord, plain_sql($q, %o));
		my $u = ids_of($coord, union_sql($q, %o));
		my $x = exact_ids($q, %o);
		my $o = ids_of($coord, 'SET vector.partition_topk = off; ' . plain_sql($q, %o));
		$same_union++ if "@$p" eq "@$u";
		$same_exact++ if "@$p" eq "@$x";
		$same_off++ if "@$p" eq "@$o";
	}
	my $nq = scalar @qs;
	is($same_union, $nq, "$when: the plain query returns the UNION ALL form's rows for all $nq queries");
	is($same_exact, $nq, "$when: and the exact top $k");
	is($same_off, $nq, "$when: and the same rows as without the rewrite");
}

check_all('plain');
check_all('filtered', where => 'cat = 3', keep => sub { $_[0] % 10 == 3 });
check_all(
	'a string with " LIMIT " and " ORDER BY " in the WHERE clause',
	where => "note = '$tricky'",
	keep => sub { $_[0] % 2 == 0 },
	queries => 10);
check_all('with OFFSET 5', offset => 5);

# a local partition with its columns in another order and a dropped one, a
# sub-partitioned local partition and a foreign one: every leaf gets its
# subquery, the columns mapped by name, the local ones a Limit
$shards[0]->safe_psql('postgres',
	"CREATE TABLE far (id int PRIMARY KEY, embedding vector($d), cat int);"
	  . 'CREATE INDEX ON far USING hnsw (embedding vector_l2_ops);');
$coord->safe_psql('postgres',
	    "CREATE TABLE mixed (id int, embedding vector($d), cat int) PARTITION BY LIST (cat);"
	  . "CREATE TABLE mixed_local (junk int, cat int, embedding vector($d), id int);"
	  . 'ALTER TABLE mixed_local DROP COLUMN junk;'
	  . 'ALTER TABLE mixed ATTACH PARTITION mixed_local FOR VALUES IN (0, 1, 2, 3);'
	  . 'CREATE TABLE mixed_sub PARTITION OF mixed FOR VALUES IN (4, 5, 6) PARTITION BY RANGE (id);'
	  . 'CREATE TABLE mixed_sub_a PARTITION OF mixed_sub FOR VALUES FROM (MINVALUE) TO (1500);'
	  . 'CREATE TABLE mixed_sub_b PARTITION OF mixed_sub FOR VALUES FROM (1500) TO (MAXVALUE);'
	  . 'CREATE FOREIGN TABLE mixed_far PARTITION OF mixed FOR VALUES IN (7, 8, 9) '
	  . "SERVER shard0 OPTIONS (table_name 'far');"
	  . 'INSERT INTO mixed SELECT id, embedding, cat FROM items;'
	  . 'ANALYZE mixed;');
sub mixed_sql
{
	my ($q) = @_;
	return "SELECT id, cat FROM mixed ORDER BY embedding <-> '" . vec_literal($q) . "' LIMIT $k";
}
my $mixed_plan =
  $coord->safe_psql('postgres', 'EXPLAIN (COSTS OFF) ' . mixed_sql($queries->[0]));
is(scalar(() = $mixed_plan =~ /Async Foreign Scan on mixed_far/g), 1,
	'mixed partitions: the foreign one is scanned asynchronously')
  or diag($mixed_plan);
is(scalar(() = $mixed_plan =~ /^\s*->  Limit$/mg), 3, 'and each of the 3 local leaves has a Limit')
  or diag($mixed_plan);
unlike($mixed_plan, qr/Merge Append/, 'and no Merge Append');
my ($mixed_exact, $mixed_off) = (0, 0);
for my $q (@$queries[ 0 .. 9 ])
{
	my $p = ids_of($coord, 'SET hnsw.ef_search = 1000; ' . mixed_sql($q));
	my $o = ids_of($coord,
		'SET hnsw.ef_search = 1000; SET vector.partition_topk = off; ' . mixed_sql($q));
	my $x = exact_ids($q);
	$mixed_exact++ if "@$p" eq join(' ', map { "$_|" . $_ % 10 } @$x);
	$mixed_off++ if "@$p" eq "@$o";
}
is($mixed_exact, 10, 'mixed partitions: the exact top 10 (id and cat) for 10 queries');
is($mixed_off, 10, 'and the same rows as without the rewrite');

# one shard served by its streaming replica
my $s2 = $shards[2];
$s2->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('shard2_standby');
$standby->init_from_backup($s2, 'b', has_streaming => 1);
$standby->start;
$s2->wait_for_catchup($standby);
$coord->safe_psql('postgres',
	"ALTER SERVER shard2 OPTIONS (SET host '" . $standby->host . "', SET port '" . $standby->port . "')");
$s2->stop;
check_all('shard 2 on a replica');

is_deeply([ server_log_problems($coord) ], [], 'no crash on the coordinator');
$_->stop for $coord, $standby, @shards[ 0, 1 ];
done_testing();
