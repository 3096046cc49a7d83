/**
 * A multimap from 32-bit hashes to values, with open addressing over typed
 * arrays: what the state table and the NAT session table file their entries
 * in. A JS Map costs a few hundred nanoseconds per insert at this size; this
 * costs tens. Several values may share a hash (callers compare the real key
 * fields); lookups visit them newest first, as IPFilter's hash chains put new
 * entries first.
 */
export class HashSlots<T> {
  private hashes: Int32Array;
  /** 0 = empty, -1 = removed, else the insertion sequence number (newer = larger). */
  private seqs: Float64Array;
  private values: (T | undefined)[];
  private used = 0;
  private hits = new Int32Array(8);
  private live = 0;
  private seq = 0;

  constructor(capacity = 64) {
    let size = 16;
    while (size < capacity * 2) size <<= 1;
    this.hashes = new Int32Array(size);
    this.seqs = new Float64Array(size);
    this.values = new Array<T | undefined>(size);
  }

  get size(): number {
    return this.live;
  }

  add(hash: number, value: T): void {
    if ((this.used + 1) * 2 > this.hashes.length) this.grow();
    const mask = this.hashes.length - 1;
    let i = (hash ^ (hash >>> 16)) & mask;
    while (this.seqs[i] !== 0) i = (i + 1) & mask;
    this.hashes[i] = hash;
    this.seqs[i] = ++this.seq;
    this.values[i] = value;
    this.used++;
    this.live++;
  }

  /**
   * Look up `hash`: returns how many values are filed under it; {@link found}
   * gives them, newest first. The next lookup replaces them.
   */
  collect(hash: number): number {
    let n = 0;
    const mask = this.hashes.length - 1;
    const seqs = this.seqs;
    let out = this.hits;
    for (let i = (hash ^ (hash >>> 16)) & mask; seqs[i] !== 0; i = (i + 1) & mask) {
      if ((seqs[i] as number) <= 0 || this.hashes[i] !== hash) continue;
      if (n === out.length) {
        const bigger = new Int32Array(out.length * 2);
        bigger.set(out);
        this.hits = out = bigger;
      }
      // Probe order is not age order after a wrap or a rebuild: insert by age (a few equal hashes at most).
      const seq = seqs[i] as number;
      let j = n++;
      while (j > 0 && (seqs[out[j - 1] as number] as number) < seq) {
        out[j] = out[j - 1] as number;
        j--;
      }
      out[j] = i;
    }
    return n;
  }

  /** The k-th value of the last {@link collect}, newest first. */
  found(k: number): T {
    return this.values[this.hits[k] as number] as T;
  }

  /** Remove this value (filed under `hash`). */
  remove(hash: number, value: T): boolean {
    const mask = this.hashes.length - 1;
    for (let i = (hash ^ (hash >>> 16)) & mask; this.seqs[i] !== 0; i = (i + 1) & mask) {
      if ((this.seqs[i] as number) > 0 && this.hashes[i] === hash && this.values[i] === value) {
        this.seqs[i] = -1;
        this.values[i] = undefined;
        this.live--;
        return true;
      }
    }
    return false;
  }

  private grow(): void {
    const oldHashes = this.hashes;
    const oldSeqs = this.seqs;
    const oldValues = this.values;
    // Double when mostly live, else rebuild at the same size to drop removed slots.
    const size = this.live * 4 > oldHashes.length ? oldHashes.length * 2 : oldHashes.length;
    this.hashes = new Int32Array(size);
    this.seqs = new Float64Array(size);
    this.values = new Array<T | undefined>(size);
    this.used = 0;
    const mask = size - 1;
    for (let i = 0; i < oldHashes.length; i++) {
      if ((oldSeqs[i] as number) <= 0) continue;
      const hash = oldHashes[i] as number;
      let j = (hash ^ (hash >>> 16)) & mask;
      while (this.seqs[j] !== 0) j = (j + 1) & mask;
      this.hashes[j] = hash;
      this.seqs[j] = oldSeqs[i] as number;
      this.values[j] = oldValues[i];
      this.used++;
    }
  }
}

/**
 * A multimap from 32-bit hashes to row handles (non-negative ints), for the
 * state and NAT session tables: one Int32Array with two ints per slot (the
 * hash, then handle + 1; 0 = empty, -1 = removed), so a probe reads one cache
 * line and nothing lives on the JS heap. Open addressing, linear probing, at
 * most half full. A lookup gives the handles filed under a hash newest first,
 * by the age the caller keeps per handle (or by handle when handles are
 * given out in age order).
 */
export class IntSlots {
  private slots: Int32Array;
  private mask: number;
  private used = 0;
  private live = 0;
  private hits = new Int32Array(8);

  constructor(capacity = 64) {
    let size = 16;
    while (size < capacity * 2) size <<= 1;
    this.slots = new Int32Array(size * 2);
    this.mask = size - 1;
  }

  get size(): number {
    return this.live;
  }

  add(hash: number, handle: number): void {
    if ((this.used + 1) * 2 > this.mask + 1) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    let i = (hash ^ (hash >>> 16)) & mask;
    while (slots[i * 2 + 1] !== 0) i = (i + 1) & mask;
    slots[i * 2] = hash;
    slots[i * 2 + 1] = handle + 1;
    this.used++;
    this.live++;
  }

  /**
   * Look up `hash`: returns how many handles are filed under it; {@link found}
   * gives them, newest first — by `ages[handle * ageStride + ageAt]` when
   * given (the age may live in a row of the caller's), else by handle. The
   * next lookup replaces them.
   */
  collect(hash: number, ages?: Float64Array, ageStride = 1, ageAt = 0): number {
    const slots = this.slots;
    const mask = this.mask;
    let out = this.hits;
    let n = 0;
    for (let i = (hash ^ (hash >>> 16)) & mask; ; i = (i + 1) & mask) {
      const v = slots[i * 2 + 1] as number;
      if (v === 0) break;
      if (v < 0 || slots[i * 2] !== hash) continue;
      if (n === out.length) {
        const bigger = new Int32Array(out.length * 2);
        bigger.set(out);
        this.hits = out = bigger;
      }
      // Probe order is not age order after a wrap or a rebuild: insert by age (a few equal hashes at most).
      // A lone hit (the usual case) needs no age, so the ages array is only read when there is an order to keep.
      const h = v - 1;
      let j = n++;
      if (j > 0) {
        const age = ages ? (ages[h * ageStride + ageAt] as number) : h;
        while (j > 0) {
          const prev = out[j - 1] as number;
          if ((ages ? (ages[prev * ageStride + ageAt] as number) : prev) >= age) break;
          out[j] = prev;
          j--;
        }
      }
      out[j] = h;
    }
    return n;
  }

  /** The k-th handle of the last {@link collect}, newest first. */
  found(k: number): number {
    return this.hits[k] as number;
  }

  /** Remove this handle (filed under `hash`). */
  remove(hash: number, handle: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = (hash ^ (hash >>> 16)) & mask; slots[i * 2 + 1] !== 0; i = (i + 1) & mask) {
      if (slots[i * 2] === hash && slots[i * 2 + 1] === handle + 1) {
        slots[i * 2 + 1] = -1;
        this.live--;
        return true;
      }
    }
    return false;
  }

  private grow(): void {
    const old = this.slots;
    const oldSize = this.mask + 1;
    // Double when mostly live, else rebuild at the same size to drop removed slots.
    const size = this.live * 4 > oldSize ? oldSize * 2 : oldSize;
    const slots = new Int32Array(size * 2);
    const mask = size - 1;
    let used = 0;
    for (let k = 0; k < oldSize; k++) {
      const v = old[k * 2 + 1] as number;
      if (v <= 0) continue;
      const hash = old[k * 2] as number;
      let i = (hash ^ (hash >>> 16)) & mask;
      while (slots[i * 2 + 1] !== 0) i = (i + 1) & mask;
      slots[i * 2] = hash;
      slots[i * 2 + 1] = v;
      used++;
    }
    this.slots = slots;
    this.mask = mask;
    this.used = used;
  }
}

/**
 * A fixed map from 32-bit integer keys to values, built once (rule indexes):
 * open addressing over typed arrays, so a lookup hashes no heap number.
 */
export class IntTable<T> {
  private readonly keys: Int32Array;
  private readonly used: Uint8Array;
  private readonly values: (T | undefined)[];
  private readonly mask: number;

  constructor(entries: Iterable<[number, T]>) {
    const list = [...entries];
    let size = 8;
    while (size < list.length * 2) size <<= 1;
    this.keys = new Int32Array(size);
    this.used = new Uint8Array(size);
    this.values = new Array<T | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (const [k, v] of list) {
      const key = k | 0;
      let i = IntTable.slot(key) & this.mask;
      while (this.used[i] === 1 && this.keys[i] !== key) i = (i + 1) & this.mask;
      this.keys[i] = key;
      this.used[i] = 1;
      this.values[i] = v;
    }
  }

  private static slot(key: number): number {
    const x = Math.imul(key, 0x9e3779b1);
    return x ^ (x >>> 16);
  }

  get(k: number): T | undefined {
    const key = k | 0;
    for (let i = IntTable.slot(key) & this.mask; this.used[i] === 1; i = (i + 1) & this.mask)
      if (this.keys[i] === key) return this.values[i];
    return undefined;
  }
}
