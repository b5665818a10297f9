# Pages that are not ours: with the server stopped, the metapage, the node
# pages or upper pages of an hnsw index, or the metapage, directory or list
# pages of an ivfflat index, are overwritten with a page of another layout
# (a btree page, a heap page, a zeroed page, random bytes under a
# valid-looking header, our own metapage with another format version or
# where another type of page belongs, and one of our pages with a special
# space of another size).  Then a scan, an insert, VACUUM and
# vector_index_check() each either stop with a clean XX002 error hinting at
# REINDEX, or (VACUUM and the check, which may not read every page) succeed,
# the check then reporting the damage; the server never crashes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $BLCKSZ = 8192;
my $node = PostgreSQL::Test::Cluster->new('foreign_pages');
$node->init(no_checksums($node));
$node->append_conf('postgresql.conf',
	"autovacuum = off\nmax_parallel_maintenance_workers = 0\nshared_buffers = 16MB");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
my $vecs = random_vectors(500, 4, 2023);
load_vectors($node, 'items', $vecs);
$node->safe_psql('postgres', 'CREATE INDEX items_id ON items (id)');

my @kinds = qw(btree heap zero randhdr ours_other special);
my %targets = (hnsw => [qw(meta nodes upper)], ivfflat => [qw(meta dir lists)]);
my @cases;
my $setup = '';
for my $am (sort keys %targets)
{
	for my $target (@{ $targets{$am} })
	{
		for my $kind (@kinds)
		{
			my $t = "t_${am}_${target}_$kind";
			my $opts = $am eq 'ivfflat' ? 'WITH (lists = 4)' : '';
			$setup .=
			    "CREATE TABLE $t AS SELECT * FROM items;"
			  . "CREATE INDEX ${t}_idx ON $t USING $am (embedding vector_l2_ops) $opts;"
			  . "DELETE FROM $t WHERE id % 10 = 0;";
			push @cases, [ $am, $target, $kind, $t ];
		}
	}
}
# and an index whose node pages are ours but whose duplicate chains loop
$setup .= 'CREATE TABLE t_loop AS SELECT * FROM items;'
  . 'CREATE INDEX t_loop_idx ON t_loop USING hnsw (embedding vector_l2_ops);';
$node->safe_psql('postgres', $setup);

my %path = split /[|\n]/, $node->safe_psql('postgres',
	"SELECT c.relname, current_setting('data_directory') || '/' || pg_relation_filepath(c.oid) "
	  . "FROM pg_class c WHERE relname LIKE 't\\_%\\_idx' OR relname IN ('items', 'items_id')");

sub read_block
{
	my ($file, $blk) = @_;
	open my $fh, '<:raw', $file or die "cannot open $file: $!";
	seek $fh, $blk * $BLCKSZ, 0;
	read($fh, my $page, $BLCKSZ) == $BLCKSZ or die "cannot read block $blk of $file";
	close $fh;
	return $page;
}

sub write_block
{
	my ($file, $blk, $page) = @_;
	length($page) == $BLCKSZ or die 'bad page length';
	open my $fh, '+<:raw', $file or die "cannot open $file: $!";
	seek $fh, $blk * $BLCKSZ, 0;
	print $fh $page;
	close $fh;
}

my $btree_page = read_block($path{items_id}, 1);	# a leaf
my $heap_page = read_block($path{items}, 0);
$node->stop;

# 8-byte LSN, checksum, flags, lower, upper, special, size/version, prune xid
sub page_header
{
	my ($lower, $upper, $special) = @_;
	return pack('L<L<S<S<S<S<S<S<L<', 0, 0, 0, 0, $lower, $upper, $special, $BLCKSZ | 4, 0);
}

srand(2023);

sub random_header_page
{
	my $body = join '', map { chr(int(rand(256))) } 1 .. $BLCKSZ - 24 - 2;
	# a special space of 16 bytes (ivfflat's size), ending in a foreign page id
	return page_header(64, 8000, $BLCKSZ - 16) . $body . pack('S<', 0x1234);
}

# our own page with a special space of 64 bytes (pd_lower kept below it,
# else PostgreSQL itself rejects the page)
sub special_moved
{
	my ($page) = @_;
	my $lower = unpack('S<', substr($page, 12, 2));
	$lower = $BLCKSZ - 64 if $lower > $BLCKSZ - 64;
	substr($page, 12, 6) = pack('S<S<S<', $lower, $BLCKSZ - 64, $BLCKSZ - 64);
	return $page;
}

# the blocks a target covers, from the index's own metapage
sub target_blocks
{
	my ($am, $target, $file) = @_;
	my $nblocks = (-s $file) / $BLCKSZ;
	my $meta = read_block($file, 0);
	return (0) if $target eq 'meta';
	if ($am eq 'hnsw')
	{
		# metapage contents at 24: ..., nruns at 48, runs[0] (first_id,
		# start, npages) at 52
		my ($start, $npages) = unpack('L<L<', substr($meta, 24 + 56, 8));
		return ($start .. $start + $npages - 1) if $target eq 'nodes';
		return ($start + $npages .. $nblocks - 1);
	}
	# ivfflat: dir_start and dir_pages at 40 and 44 of the contents
	my ($dir_start, $dir_pages) = unpack('L<L<', substr($meta, 24 + 40, 8));
	return ($dir_start .. $dir_start + $dir_pages - 1) if $target eq 'dir';
	return ($dir_start + $dir_pages .. $nblocks - 1);
}

for my $c (@cases)
{
	my ($am, $target, $kind, $t) = @$c;
	my $file = $path{"${t}_idx"};
	my $meta = read_block($file, 0);
	my @blocks = target_blocks($am, $target, $file);
	die "$t: no blocks to damage" unless @blocks;
	for my $blk (@blocks)
	{
		my $page;
		if ($kind eq 'btree') { $page = $btree_page }
		elsif ($kind eq 'heap') { $page = $heap_page }
		elsif ($kind eq 'zero') { $page = "\0" x $BLCKSZ }
		elsif ($kind eq 'randhdr') { $page = random_header_page() }
		elsif ($kind eq 'special') { $page = special_moved(read_block($file, $blk)) }
		elsif ($target eq 'meta')
		{
			# our magic, another format version
			$page = $meta;
			substr($page, 24 + 4, 4) = pack('L<', 99);
		}
		else { $page = $meta }	# our page id, but a metapage
		write_block($file, $blk, $page);
	}
}

# t_loop: node 0 (the first of block 1: the build's one run starts there)
# is marked deleted and given node 1 as its next duplicate, and every other
# node of the block is made a deleted duplicate that is its own next one:
# flags at byte 7 and dup_next at byte 16 of the record, and the stamp (in
# list slots 1 and 2: the list follows the 20-byte header and the item)
# zeroed, so that the walk does not stop at a member newer than the one
# before it.  The record of node 0
# starts with its heap TID, to query its row.
my $loop_file = $path{t_loop_idx};
my $loop_meta = read_block($loop_file, 0);
my ($npp, $node_size, $item_size) = unpack('S<L<L<', substr($loop_meta, 24 + 18, 10));
my $loop_page = read_block($loop_file, 1);
my ($tid_hi, $tid_lo, $tid_off) = unpack('S<S<S<', substr($loop_page, 24, 6));
substr($loop_page, 24 + 7, 1) = chr(1);
substr($loop_page, 24 + 16, 4) = pack('L<', 1);
for my $slot (1 .. $npp - 1)
{
	substr($loop_page, 24 + $slot * $node_size + 7, 1) = chr(3);
	substr($loop_page, 24 + $slot * $node_size + 16, 4) = pack('L<', $slot);
	substr($loop_page, 24 + $slot * $node_size + 20 + $item_size + 4, 8) = "\0" x 8;
}
write_block($loop_file, 1, $loop_page);
$node->start;

my ($loop_ret, $loop_out, $loop_err) = $node->psql('postgres',
	"SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM t_loop ORDER BY embedding <-> "
	  . "(SELECT embedding FROM t_loop WHERE ctid = '(" . (($tid_hi << 16) | $tid_lo) . ",$tid_off)') LIMIT 10) s",
	timeout => 120);
like($loop_err, qr/index "t_loop_idx" has a duplicate chain that loops/,
	'a scan stops at a duplicate chain that loops');

# Every operation on every damaged index, in one session (psql goes on
# after an error): after each, psql's ERROR and SQLSTATE, and for the check
# the rows it returned (-1 when it failed), are echoed to stdout, while the
# messages themselves go to stderr, to be checked as a whole below.
my $q = vec_literal($vecs->[7]);
my $script = "\\set VERBOSITY verbose\nSET enable_seqscan = off;\n";
for my $c (@cases)
{
	my $t = $c->[3];
	$script .=
	    "SELECT count(*) FROM (SELECT id FROM $t ORDER BY embedding <-> '$q' LIMIT 10) s;\n"
	  . "\\echo $t scan :ERROR :SQLSTATE\n"
	  . "INSERT INTO $t VALUES (100000, '$q');\n"
	  . "\\echo $t insert :ERROR :SQLSTATE\n"
	  . "VACUUM $t;\n"
	  . "\\echo $t vacuum :ERROR :SQLSTATE\n"
	  . "\\set n -1\n"
	  . "SELECT count(*) AS n FROM vector_index_check('${t}_idx') \\gset\n"
	  . "\\echo $t check :ERROR :SQLSTATE :n\n";
}
my $timed_out = 0;
my ($ret, $out, $err) = $node->psql('postgres', $script,
	on_error_stop => 0, timeout => 120, timed_out => \$timed_out);
ok(!$timed_out, 'no operation runs on forever');
my %res = map { my @f = split / /; ("$f[0] $f[1]" => [ @f[ 2 .. $#f ] ]) } grep { /^t_/ } split /\n/, $out;

for my $c (@cases)
{
	my ($am, $target, $kind, $t) = @$c;
	my $name = "$am $target <- $kind";
	for my $op (qw(scan insert vacuum check))
	{
		my ($error, $state, $n) = @{ $res{"$t $op"} // [ 'missing', '' ] };
		if ($error eq 'true')
		{
			is($state, 'XX002', "$name: $op stops with an index-corrupted error");
			next;
		}
		# VACUUM and the check need not read the damaged pages; the check
		# must then report them; the other operations must fail
		my $may_pass = $target ne 'meta' && $target ne 'dir'
		  && ($op eq 'vacuum' || $op eq 'check');
		ok($may_pass && $error eq 'false' && ($op ne 'check' || $n > 0),
			"$name: $op stops with an error" . ($may_pass ? ' or succeeds' : ''))
		  or diag("$t $op: " . join(' ', $error, $state, $n // ''));
	}
}
# each error names the index and hints at REINDEX
my @errors = grep { /^psql:.*ERROR:/ } split /\n/, $err;
my @hints = grep { /^HINT:  REINDEX the index\.$/ } split /\n/, $err;
ok(@errors > 0, 'there were errors');
is_deeply([ grep { !/ERROR:  XX002: index "t_\w+_idx" / } @errors ], [],
	'every error is XX002 and names the index');
is(scalar @hints, scalar @errors, 'every error hints at REINDEX');

is($node->safe_psql('postgres', 'SELECT 1'), 1, 'the server is still up');
is_deeply([ server_log_problems($node) ], [], 'no crash in the log');
$node->stop;
done_testing();
