using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Distributed;

/// <summary>
/// The MPI C API, bound at run time to Open MPI's libmpi (soname libmpi.so.40, Open MPI 3 to 5) and used through
/// MPI_COMM_WORLD only. Open MPI's handles (communicator, datatypes, operations) are the addresses of its
/// predefined global objects, looked up by symbol. Errors keep MPI's default handler: they end the job.
/// </summary>
public sealed unsafe class MpiProcessGroup : IProcessGroup
{
    private const string Library = "libmpi.so.40";
    // Open MPI's MPI_IN_PLACE is ((void *) 1).
    private static readonly void* InPlace = (void*)1;

    private readonly delegate* unmanaged<nint, int, nint, int, nint, int> broadcast;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> allReduce;
    private readonly delegate* unmanaged<nint, int> barrier;
    private readonly delegate* unmanaged<nint, int, int> abort;
    private readonly delegate* unmanaged<int> finalize;
    private readonly nint world, floatType, byteType, sum;
    private bool finalized;

    public int Rank { get; }
    public int Size { get; }

    private MpiProcessGroup(nint library, ProcessRank launched)
    {
        nint Symbol(string name) => NativeLibrary.TryGetExport(library, name, out nint address)
            ? address
            : throw new VkDiffusionException($"{Library} lacks {name}: it is not Open MPI 3 or later (MPICH is not supported yet).", ExitCodes.NoVulkanLoader);
        world = Symbol("ompi_mpi_comm_world");
        floatType = Symbol("ompi_mpi_float");
        byteType = Symbol("ompi_mpi_byte");
        sum = Symbol("ompi_mpi_op_sum");
        broadcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Symbol("MPI_Bcast");
        allReduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Symbol("MPI_Allreduce");
        barrier = (delegate* unmanaged<nint, int>)Symbol("MPI_Barrier");
        abort = (delegate* unmanaged<nint, int, int>)Symbol("MPI_Abort");
        finalize = (delegate* unmanaged<int>)Symbol("MPI_Finalize");

        Check(((delegate* unmanaged<int*, byte***, int>)Symbol("MPI_Init"))(null, null), "MPI_Init");
        int rank, size;
        Check(((delegate* unmanaged<nint, int*, int>)Symbol("MPI_Comm_rank"))(world, &rank), "MPI_Comm_rank");
        Check(((delegate* unmanaged<nint, int*, int>)Symbol("MPI_Comm_size"))(world, &size), "MPI_Comm_size");
        if (rank != launched.Rank || size != launched.Size)
            throw new VkDiffusionException($"MPI says rank {rank} of {size} but {launched.Source} said {launched.Rank} of {launched.Size}: " +
                "the launcher and the MPI library do not belong together (run Open MPI's own mpirun, or srun --mpi=pmix).");
        Rank = rank;
        Size = size;
    }

    /// <summary>Loads libmpi and joins the job the launcher started.</summary>
    public static MpiProcessGroup Initialize(ProcessRank launched)
    {
        if (!NativeLibrary.TryLoad(Library, out nint library))
            throw new VkDiffusionException($"launched as rank {launched.Rank} of {launched.Size} ({launched.Source}) but {Library} cannot be loaded: " +
                "install Open MPI (Debian/Ubuntu: sudo apt-get install openmpi-bin libopenmpi-dev).", ExitCodes.NoVulkanLoader);
        return new MpiProcessGroup(library, launched);
    }

    public void AllReduceSum(Span<float> values)
    {
        fixed (float* pointer = values) Check(allReduce(InPlace, pointer, values.Length, floatType, sum, world), "MPI_Allreduce");
    }

    public void Broadcast(Span<byte> bytes, int root)
    {
        fixed (byte* pointer = bytes) Check(broadcast((nint)pointer, bytes.Length, byteType, root, world), "MPI_Bcast");
    }

    public void Barrier() => Check(barrier(world), "MPI_Barrier");

    public void Abort(int exitCode)
    {
        abort(world, exitCode);
        Environment.Exit(exitCode); // MPI_Abort never returns; the compiler cannot know that
    }

    public void Dispose()
    {
        if (finalized) return;
        finalized = true;
        Check(finalize(), "MPI_Finalize");
    }

    private static void Check(int result, string call)
    {
        if (result != 0) throw new VkDiffusionException($"{call} failed with MPI error {result}.");
    }
}
