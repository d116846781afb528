Route #1: 89 98 99 62 71
Route #2: 82 72 57 60 88
Route #3: 79 11 85 30
Route #4: 27 97 19
Route #5: 4 13 74
Route #6: 68 90 84 66
Route #7: 50 91 52
Route #8: 56 26 48 47 38
Route #9: 15 22 41 20
Route #10: 21 8 17
Route #11: 24 95 73 53 33 32
Route #12: 58 12 5
Route #13: 6 36 29 87 96 64 34
Route #14: 7 49 2 45 43 37
Route #15: 59 67 40
Route #16: 28 42 78 65 25
Route #17: 92 9 86
Route #18: 18 10 39
Route #19: 35 46 31
Route #20: 1 70 54
Route #21: 23 61 100
Route #22: 75 93
Route #23: 81 51 83
Route #24: 94 3 80
Route #25: 69 16 55 76
Route #26: 44 77 14 63
Cost: 27659
