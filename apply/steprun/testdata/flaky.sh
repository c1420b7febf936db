# Fails until it has run $SUCCEED_ON times, counting runs in $COUNTER.
n=$(cat "$COUNTER" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$COUNTER"
echo "attempt $n"
[ "$n" -ge "$SUCCEED_ON" ]
