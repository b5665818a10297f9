# vector_index_check() finds damage: a sound hnsw and ivfflat index report
# nothing; after bytes of the index files are overwritten with the server
# stopped (an hnsw neighbour link, an ivfflat record's heap TID, an ivfflat
# chain pointer), each damage is reported by name, and queries on the
# damaged index fail cleanly instead of crashing the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('index_check');
$node->init(no_checksums($node));
$node->append_conf('postgresql.conf', "max_parallel_maintenance_workers = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
load_vectors($node, 'items', random_vectors(2000, 4, 2022));
$node->safe_psql('postgres',
	    'CREATE INDEX items_h ON items USING hnsw (embedding vector_l2_ops);'
	  . 'CREATE INDEX items_i ON items USING ivfflat (embedding) WITH (lists = 2);'
	  . 'CREATE INDEX items_c ON items USING ivfflat (embedding) WITH (lists = 1)');
for my $idx (qw(items_h items_i))
{
	is($node->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('$idx')"),
		0, "$idx: a sound index reports nothing");
}

my %path = map {
	$_ => $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')")
} qw(items_h items_i items_c);
$node->stop;

sub poke
{
	my ($file, $offset, $bytes) = @_;
	open my $fh, '+<:raw', $file or die "cannot open $file: $!";
	seek $fh, $offset, 0;
	print $fh $bytes;
	close $fh;
}

sub peek
{
	my ($file, $offset, $len) = @_;
	open my $fh, '<:raw', $file or die "cannot open $file: $!";
	seek $fh, $offset, 0;
	my $bytes;
	read($fh, $bytes, $len) == $len or die "cannot read $file: $!";
	close $fh;
	return $bytes;
}

# hnsw: node 0 sits at block 1, offset 24 (page header), and starts with
# its heap TID; its first level-0 link follows the 20-byte header and the
# 4 floats.  (The build numbers nodes in its own order: node 0 need not be
# row 0.)
my ($tid_hi, $tid_lo, $tid_off) = unpack('S<S<S<', peek($path{items_h}, 8192 + 24, 6));
my $node0_tid = sprintf('(%d,%d)', ($tid_hi << 16) | $tid_lo, $tid_off);
poke($path{items_h}, 8192 + 24 + 20 + 16, pack('L<', 0xFFFFFFF0));
# ivfflat, lists = 2: metapage, one directory page, then list 0's first
# page at block 2; record 0 at offset 24 starts with its heap TID
poke($path{items_i}, 2 * 8192 + 24, pack('S<S<S<', 0x7FFF, 0xFFFF, 1));
# more problems than vector_index_check() lists (100): 150 bad heap TIDs on
# items_c's first list page (block 2; 24-byte records of 4 dimensions)
poke($path{items_c}, 2 * 8192 + 24 + 24 * $_, pack('S<S<S<', 0x7FFF, 0xFFFF, 1)) for 0 .. 149;
$node->start;

my @rows = split /\n/, $node->safe_psql('postgres', "SELECT * FROM vector_index_check('items_c')");
is(scalar @rows, 101, 'the first 100 problems and a summary row');
is($rows[-1], '50 more problems not shown', 'the summary row counts the problems not shown');
$node->safe_psql('postgres', 'DROP INDEX items_c');

like($node->safe_psql('postgres', "SELECT string_agg(p, E'\\n') FROM vector_index_check('items_h') p"),
	qr/node 0 links to node 4294967280, past the last node/, 'hnsw: the bad link is reported');
like($node->safe_psql('postgres', "SELECT string_agg(p, E'\\n') FROM vector_index_check('items_i') p"),
	qr/record 0 points to heap tuple \(2147483647,1\), outside the table/,
	'ivfflat: the bad heap TID is reported');

# an ivfflat chain pointing into the directory
$node->stop;
poke($path{items_i}, 2 * 8192 + 8192 - 16, pack('L<', 1));
$node->start;
like($node->safe_psql('postgres', "SELECT string_agg(p, E'\\n') FROM vector_index_check('items_i') p"),
	qr/reaches block 1, which cannot be a list page/, 'ivfflat: the bad chain is reported');

# queries on the damaged indexes stop with an error naming the damage
# (each with the other index dropped, in a transaction rolled back); the
# query looks up node 0's own row, so that the hnsw search expands node 0
for my $c (
	[ 'items_h', 'items_i', 'SET hnsw.ef_search = 400', qr/refers to node 4294967280, which does not exist/ ],
	[ 'items_i', 'items_h', 'SET ivfflat.probes = 2', qr/has a bad list page at block 1/ ])
{
	my ($idx, $other, $set, $want) = @$c;
	my ($ret, $out, $err) = $node->psql('postgres',
		"BEGIN; DROP INDEX $other; SET LOCAL enable_seqscan = off; $set; SELECT count(*) FROM "
		  . "(SELECT id FROM items ORDER BY embedding <-> "
		  . "(SELECT embedding FROM items WHERE ctid = '$node0_tid') "
		  . "LIMIT 500) s; ROLLBACK");
	like($err, $want, "$idx: a query on the damaged index fails cleanly");
}
is($node->safe_psql('postgres', 'SELECT 1'), 1, 'the server is still up');
is_deeply([ server_log_problems($node) ], [], 'no crash in the log');
$node->stop;
done_testing();
