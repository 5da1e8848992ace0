namespace VkDiffusion.Tests.Distributed;

/// <summary>A test that launches ranks with MPICH's mpiexec; skipped, saying why, where MPICH is not installed.</summary>
public sealed class MpichFactAttribute : FactAttribute
{
    /// <summary>Debian's name for MPICH's launcher, beside Open MPI's mpirun (which the alternatives system keeps as mpirun).</summary>
    public const string Mpiexec = "/usr/bin/mpiexec.mpich";

    public MpichFactAttribute()
    {
        if (!File.Exists(Mpiexec)) Skip = $"no MPICH: {Mpiexec} is missing (Debian/Ubuntu: apt-get install mpich)";
    }
}
