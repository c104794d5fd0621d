namespace NvDataplane.Io;

/// <summary>
/// Whether two paths name the same file however they reach it: through symbolic links (on the
/// file or on any folder above it), hard links or bind mounts. On Linux the device and inode
/// numbers are compared (statx(2)); elsewhere the paths with every link resolved. Also what
/// kind of file a path is, where that takes statx.
/// </summary>
public static class FileIdentity
{
    /// <summary>
    /// Whether <paramref name="path"/> itself (not what a link names) is a socket (statx(2); false
    /// when it cannot be read); null off Linux, where this cannot be told.
    /// </summary>
    public static unsafe bool? IsSocket(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        byte* buffer = stackalloc byte[LinuxNative.StatxSize];
        return LinuxNative.Statx(LinuxNative.AT_FDCWD, path, LinuxNative.AT_SYMLINK_NOFOLLOW, LinuxNative.STATX_TYPE, buffer) == 0
            && (*(ushort*)(buffer + LinuxNative.StatxModeOffset) & LinuxNative.S_IFMT) == LinuxNative.S_IFSOCK;
    }

    /// <summary>True when both paths exist and are one file.</summary>
    public static bool Same(string a, string b)
    {
        if (!File.Exists(a) || !File.Exists(b))
        {
            return false;
        }

        if (OperatingSystem.IsLinux() && Inode(a) is { } ia && Inode(b) is { } ib)
        {
            return ia == ib;
        }

        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return string.Equals(Resolved(a), Resolved(b), comparison);
    }

    /// <summary>(device major, device minor, inode) of the file <paramref name="path"/> leads to, or null when statx fails.</summary>
    private static unsafe (uint, uint, ulong)? Inode(string path)
    {
        byte* buffer = stackalloc byte[LinuxNative.StatxSize];
        if (LinuxNative.Statx(LinuxNative.AT_FDCWD, Path.GetFullPath(path), 0, LinuxNative.STATX_INO, buffer) != 0)
        {
            return null;
        }

        uint major = *(uint*)(buffer + LinuxNative.StatxDevMajorOffset);
        uint minor = *(uint*)(buffer + LinuxNative.StatxDevMinorOffset);
        ulong inode = *(ulong*)(buffer + LinuxNative.StatxInoOffset);
        return (major, minor, inode);
    }

    /// <summary>The full path with each of its components' symbolic links resolved, from the root down.</summary>
    private static string Resolved(string path)
    {
        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full) ?? string.Empty;
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar))
        {
            if (part.Length == 0)
            {
                continue;
            }

            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                current = Path.GetFullPath(target.FullName);
            }
        }

        return current;
    }
}
