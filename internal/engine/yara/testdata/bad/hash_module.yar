import "hash"

rule Uses_Hash
{
    condition:
        hash.md5(0, filesize) == "44d88612fea8a8f36de82e1278abb02f"
}
