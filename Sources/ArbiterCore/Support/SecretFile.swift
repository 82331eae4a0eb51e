import Foundation
import Glibc

/// Files that hold secrets (the first admin key, the export signing and masking keys, an ERP
/// signing secret) and the data directory that holds them.
///
/// A secret file is created with `open(O_CREAT | O_EXCL | O_NOFOLLOW, 0600)`: it is never
/// readable by others, not even between a write and a chmod, and an existing file or a link
/// planted at its path is never written through. One that exists must belong to the user the
/// service runs as and must not be readable or writable by anyone else, or the start stops
/// with an error naming the file and the fix.
public enum SecretFile {
    public struct Refused: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Creates `path` (and its parents) as a directory only its owner may use, if it is missing.
    public static func prepareDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw Refused(path: path, reason: "is not a directory") }
            return
        }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !parent.isEmpty, parent != path, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw Refused(path: path, reason: "could not be created (\(String(cString: strerror(errno))))")
        }
    }

    /// The contents of an existing secret file, after checking who may read it; nil when there
    /// is no file.
    public static func read(_ path: String) throws -> Data? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw Refused(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw Refused(path: path, reason: "is not a regular file (a link or a directory); a secret must be a file of its own")
        }
        guard info.st_uid == geteuid() else {
            throw Refused(path: path, reason: "is owned by uid \(info.st_uid), not by the user the service runs as (uid \(geteuid())); chown it to that user")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Refused(path: path, reason: "can be read or written by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Refused(path: path, reason: "cannot be read")
        }
        return data
    }

    /// Creates `path` with `contents`, mode 0600 from the first byte, synced. Refuses when
    /// anything already exists at the path.
    public static func create(_ path: String, contents: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw Refused(path: path, reason: "already exists, and a secret is never written over another file: move it away and start again")
            }
            throw Refused(path: path, reason: "could not be created (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        try contents.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                guard written > 0 else { throw Refused(path: path, reason: "could not be written (\(String(cString: strerror(errno))))") }
                offset += written
            }
        }
        guard fsync(fd) == 0 else { throw Refused(path: path, reason: "could not be synced") }
    }

    /// A 32-byte secret kept as hex on one line in `directory`/`name`: read (and checked), or
    /// made and created.
    static func loadOrCreate(in directory: String, name: String, what: String, make: () -> [UInt8]) throws -> [UInt8] {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        if let bytes = try load(path, what: what) { return bytes }
        try prepareDirectory(directory)
        let bytes = make()
        try create(path, contents: Data((Hex.encode(bytes) + "\n").utf8))
        return bytes
    }

    /// The 32-byte secret in `path`, if the file exists (checked as ``read(_:)`` does).
    static func load(_ path: String, what: String) throws -> [UInt8]? {
        guard let data = try read(path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Hex.decode(text), bytes.count == 32 else {
            throw Refused(path: path, reason: "not an \(what) (64 hex characters)")
        }
        return bytes
    }
}
