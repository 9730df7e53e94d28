using System.Text;
using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

public class PathTableTests
{
    [Fact]
    public void A_flood_of_distinct_paths_stays_bounded_and_the_busy_path_keeps_its_exact_count()
    {
        var table = new PathTable<PathCounter>(capacity: 100, () => new PathCounter());
        for (int i = 0; i < 100_000; i++)
        {
            table.GetOrAdd(Encoding.UTF8.GetBytes($"/users/{i}")).Count++;
            if (i % 10 == 0)
            {
                table.GetOrAdd("/health"u8).Count++;
            }
        }

        Assert.InRange(table.Count, 1, 200);
        (string path, PathCounter entry) = table.Top(entry => entry.Count, 1).Single();
        Assert.Equal(("/health", 10_000L), (path, entry.Count));
        Assert.True(table.DroppedPaths > 99_000);
        Assert.Equal(100_000 - table.All().Where(row => row.Path != "/health").Sum(row => row.Entry.Count), table.DroppedRequests);
    }

    [Fact]
    public void Same_bytes_find_the_same_entry_and_ties_rank_by_path()
    {
        var table = new PathTable<PathCounter>(capacity: 10, () => new PathCounter());
        table.GetOrAdd("/b"u8).Count++;
        table.GetOrAdd("/a"u8).Count++;
        table.GetOrAdd("/ä"u8).Count += 2;

        Assert.Equal(3, table.Count);
        Assert.Equal(["/ä", "/a", "/b"], table.Top(entry => entry.Count, 10).Select(row => row.Path));
    }
}
