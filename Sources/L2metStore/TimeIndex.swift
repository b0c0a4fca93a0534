/// An in-memory sorted set: members ordered by an integer score (epoch seconds), the shape of a
/// Redis sorted set as `MemoryStore` uses it (due index, claimed index). Not thread-safe.
struct TimeIndex<Member: Hashable> {
    /// Distinct scores, ascending.
    private var scores: [Int64] = []
    private var membersByScore: [Int64: Set<Member>] = [:]
    private var scoreByMember: [Member: Int64] = [:]

    var count: Int { scoreByMember.count }

    func score(of member: Member) -> Int64? { scoreByMember[member] }

    /// The lowest score, nil when empty.
    var lowestScore: Int64? { scores.first }

    /// How many members have a score <= `maxScore`.
    func count(upTo maxScore: Int64) -> Int {
        var n = 0
        for score in scores {
            if score > maxScore { break }
            n += membersByScore[score]?.count ?? 0
        }
        return n
    }

    /// Adds `member` with `score`, or moves it to `score` when present.
    mutating func insert(_ member: Member, score: Int64) {
        if let old = scoreByMember[member] {
            if old == score { return }
            remove(member)
        }
        scoreByMember[member] = score
        if membersByScore[score] == nil {
            membersByScore[score] = [member]
            scores.insert(score, at: insertionPoint(score))
        } else {
            membersByScore[score]!.insert(member)
        }
    }

    /// Removes `member`; returns its score, nil when it was not there.
    @discardableResult
    mutating func remove(_ member: Member) -> Int64? {
        guard let score = scoreByMember.removeValue(forKey: member) else { return nil }
        membersByScore[score]?.remove(member)
        if membersByScore[score]?.isEmpty ?? false {
            membersByScore[score] = nil
            let p = insertionPoint(score)
            if p < scores.count && scores[p] == score { scores.remove(at: p) }
        }
        return score
    }

    /// Up to `limit` members with score <= `maxScore`, lowest score first (ties in no particular order).
    func first(upTo maxScore: Int64, limit: Int) -> [(member: Member, score: Int64)] {
        var out: [(member: Member, score: Int64)] = []
        guard limit > 0 else { return out }
        for score in scores {
            if score > maxScore { break }
            for member in membersByScore[score] ?? [] {
                out.append((member, score))
                if out.count == limit { return out }
            }
        }
        return out
    }

    /// Index of the first score >= `score`.
    private func insertionPoint(_ score: Int64) -> Int {
        var lo = 0, hi = scores.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if scores[mid] < score { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
