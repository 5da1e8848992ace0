using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Distributed;

/// <summary>
/// The MPI C API, bound at run time to one of the two MPI ABIs and used through MPI_COMM_WORLD only: Open MPI's
/// (libmpi.so.40, Open MPI 3 to 5), whose handles (communicator, datatypes, operations) are the addresses of its
/// predefined global objects, looked up by symbol; or MPICH's (libmpich.so.12, MPICH 3 and 4), whose handles are
/// int constants of its mpi.h. Errors keep MPI's default handler: they end the job.
/// </summary>
/// <remarks>
/// One set of function pointers serves both ABIs: handles are passed as nint, and MPICH's int handles travel in
/// the same argument registers (every call here has at most 6 arguments, all passed in registers on x86-64 and
/// AArch64, where the callee reads only the low 32 bits of an int argument).
/// </remarks>
public sealed unsafe class MpiProcessGroup : IProcessGroup
{
    private enum Abi { OpenMpi, Mpich }

    private static string LibraryOf(Abi abi) => abi == Abi.OpenMpi ? "libmpi.so.40" : "libmpich.so.12";

    private readonly delegate* unmanaged<nint, int, nint, int, nint, int> broadcast;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> allReduce;
    private readonly delegate* unmanaged<nint, int> barrier;
    private readonly delegate* unmanaged<nint, int, int> abort;
    private readonly delegate* unmanaged<int> finalize;
    private readonly nint world, floatType, byteType, sum, inPlace;
    private bool finalized;

    public int Rank { get; }
    public int Size { get; }

    private MpiProcessGroup(nint library, Abi abi, ProcessRank launched)
    {
        nint Symbol(string name) => NativeLibrary.TryGetExport(library, name, out nint address)
            ? address
            : throw new VkDiffusionException($"{LibraryOf(abi)} lacks {name}: it is not Open MPI 3 or later, nor MPICH 3 or later.", ExitCodes.NoVulkanLoader);
        // MPICH's mpi.h: MPI_COMM_WORLD, MPI_FLOAT, MPI_BYTE, MPI_SUM and MPI_IN_PLACE ((void *) -1); Open MPI's MPI_IN_PLACE is ((void *) 1).
        (world, floatType, byteType, sum, inPlace) = abi == Abi.OpenMpi
            ? (Symbol("ompi_mpi_comm_world"), Symbol("ompi_mpi_float"), Symbol("ompi_mpi_byte"), Symbol("ompi_mpi_op_sum"), 1)
            : (0x44000000, 0x4c00040a, 0x4c00010d, 0x58000003, -1);
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
                $"the launcher and {LibraryOf(abi)} do not belong together (run Open MPI's own mpirun or MPICH's own mpiexec, or srun --mpi=pmix).");
        Rank = rank;
        Size = size;
    }

    /// <summary>
    /// Loads the MPI library of the launcher and joins the job it started: Open MPI under its mpirun, MPICH under its
    /// mpiexec (Hydra), and under srun whichever is installed, Open MPI first.
    /// </summary>
    public static MpiProcessGroup Initialize(ProcessRank launched)
    {
        Abi[] candidates = launched.Source.StartsWith("OMPI_", StringComparison.Ordinal) ? [Abi.OpenMpi]
            : launched.Source.StartsWith("PMI_", StringComparison.Ordinal) ? [Abi.Mpich]
            : [Abi.OpenMpi, Abi.Mpich];
        foreach (Abi abi in candidates)
            if (NativeLibrary.TryLoad(LibraryOf(abi), out nint library)) return new MpiProcessGroup(library, abi, launched);
        throw new VkDiffusionException($"launched as rank {launched.Rank} of {launched.Size} ({launched.Source}) but " +
            $"{string.Join(" or ", candidates.Select(LibraryOf))} cannot be loaded: install the MPI the launcher belongs to " +
            "(Debian/Ubuntu: sudo apt-get install openmpi-bin libopenmpi-dev, or mpich).", ExitCodes.NoVulkanLoader);
    }

    public void AllReduceSum(Span<float> values)
    {
        fixed (float* pointer = values) Check(allReduce((void*)inPlace, pointer, values.Length, floatType, sum, world), "MPI_Allreduce");
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
